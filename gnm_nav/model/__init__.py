"""gnm_nav.model"""
