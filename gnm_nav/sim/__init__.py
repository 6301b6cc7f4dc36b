"""gnm_nav.sim"""
