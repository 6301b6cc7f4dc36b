"""The package's own process launcher: the node sets of launch/*.launch.py as OS processes (no launch_ros needed)."""
