"""gnm_nav.graph"""
