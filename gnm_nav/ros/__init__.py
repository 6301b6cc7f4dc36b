"""gnm_nav.ros"""
