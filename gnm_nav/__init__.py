"""gnm_nav: image-goal navigation for camera robots (GNM policy, topological graph, LDM safety filter)."""

__version__ = "0.2.1"
