"""Subcommands of `gnm-nav`, one module each (see gnm_nav.cli)."""
