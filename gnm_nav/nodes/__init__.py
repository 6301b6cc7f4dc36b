"""gnm_nav.nodes"""
