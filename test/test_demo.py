"""`gnm-nav demo` end to end on a small bundled world (a random-weight model: this checks the demo runs and
reports, not that it succeeds)."""
from __future__ import annotations

import json
import os

from gnm_nav.cli import main as cli_main


def test_demo_builds_navigates_and_reports(gnm_model_path, tmp_path, capsys):
    out = tmp_path / "demo"
    rc = cli_main(["demo", "--out", str(out), "--world", "box_room", "--min-route-m", "3", "--model",
                   str(gnm_model_path), "--real-time-factor", "2", "--domain-id", os.environ["ROS_DOMAIN_ID"]])
    printed = capsys.readouterr().out
    assert rc == 0, printed
    assert "safety filter off" in printed  # the shipped LDM belongs to the shipped encoder, not this one
    assert "graph:" in printed and "nodes from a" in printed
    assert "ours_no_filter: " in printed and f"report: {out}" in printed
    summary = json.loads((out / "summary.json").read_text())
    assert summary["modes"]["ours_no_filter"]["routes"] == 1 and summary["routes_not_built"] == {}
    (record,) = [json.loads(p.read_text()) for p in (out / "routes").glob("*.json")]
    if "time_s" in record["runs"]["ours_no_filter"]:  # it navigated (a random model may never get a subgoal: that run
        assert "latency p50/p99:" in printed  # fails with its reason, printed above, and has no latencies)
    else:
        assert f"ours_no_filter: FAILED ({record['runs']['ours_no_filter']['reason']})" in printed
    (png,) = (out / "routes").glob("*.png")
    assert png.stat().st_size > 0
