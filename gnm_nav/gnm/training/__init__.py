"""Training of the GNM policy on GNM-format datasets (the LDM trains in gnm_nav.ldm)."""
