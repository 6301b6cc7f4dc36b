"""gnm_nav.bench"""
