"""Dataset formats: the public GNM training layout (gnm_format)."""
