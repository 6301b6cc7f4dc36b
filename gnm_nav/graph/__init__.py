"""Topological graph: storage (store), import (topomap), recording (builder), shortcut edges (shortcuts),
compact node images + descriptors (bank), localisation, planning, the navigator combining them, bag replay,
rendering, and synthetic routes for tests and benchmarks. ROS-free except ros_markers."""
