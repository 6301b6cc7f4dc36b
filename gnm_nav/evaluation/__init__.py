"""Closed-loop evaluation in simulation: graphs built by the expert, navigation by the real node processes."""
