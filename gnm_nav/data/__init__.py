"""gnm_nav.data"""
