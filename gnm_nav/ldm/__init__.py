"""gnm_nav.ldm"""
