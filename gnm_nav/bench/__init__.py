"""Benchmarks behind `gnm-nav bench AREA`: each module measures one area and returns a flat dict for JSON."""
