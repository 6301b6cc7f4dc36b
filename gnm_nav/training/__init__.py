"""gnm_nav.training"""
