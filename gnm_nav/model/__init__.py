"""GNM network in plain torch (no torchvision): gnm_nav.model.gnm.GNM."""
from gnm_nav.model.gnm import GNM, parameter_count

__all__ = ["GNM", "parameter_count"]
