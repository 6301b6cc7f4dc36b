"""One tiny closed-loop evaluation end to end through `gnm-nav eval`: the expert builds the graph with
graph_builder_node (processes over DDS), then ours (with the safety filter) and the anchor mode run from
a perturbed start. A random-weight model does not navigate, so this checks the harness, not success."""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest

from gnm_nav.cli import main as cli_main


@pytest.fixture(scope="module")
def random_ldm(gnm_model_path, tmp_path_factory) -> Path:
    """An untrained LDM head on the random GNM's encoder, with a threshold that allows every command."""
    import torch

    from gnm_nav.ldm.export import ActionGrid, export_head
    from gnm_nav.ldm.model import LdmHead
    from gnm_nav.model_card import load_model_card

    torch.manual_seed(0)
    card = load_model_card(gnm_model_path)
    path = tmp_path_factory.mktemp("ldm") / "ldm_random.onnx"
    export_head(LdmHead(card.obs_encoding_size, 8), path, {
        "encoder_sha256": card.sha256["obs"], "encoder_model": gnm_model_path.name,
        "encoding_dim": card.obs_encoding_size, "action_grid": ActionGrid(0.0, 0.3, 4, -1.0, 1.0, 5),
        "threshold": 1e9, "quantile": 1.0})
    return path


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and int(proc.name) != os.getpid():
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if text in cmdline:
                found.append(f"{proc.name}: {cmdline[:200]}")
    return found


def test_tiny_eval_end_to_end(gnm_model_path, random_ldm, tmp_path):
    out = tmp_path / "eval"
    rc = cli_main(["eval", "--out", str(out), "--worlds", "box_room", "--routes", "1", "--min-route-m", "3",
                   "--timeout-s", "8", "--model", str(gnm_model_path), "--ldm", str(random_ldm),
                   "--real-time-factor", "2", "--domain-id", os.environ["ROS_DOMAIN_ID"], "--log-level", "warn"])
    assert rc == 0
    assert _processes_mentioning(str(out)) == [], "node processes outlived the evaluation"

    summary = json.loads((out / "summary.json").read_text())
    for block in (summary, summary["anchor_mode"]):
        assert block["routes"] == 1
        assert 0.0 <= block["success_rate"] <= 1.0 and 0.0 <= block["spl"] <= 1.0
        assert isinstance(block["collisions"], int)
    assert summary["safety_filter"] is True and summary["anchor_mode"]["safety_filter"] is False
    assert summary["routes_not_built"] == {}

    (record_path,) = (out / "routes").glob("*.json")
    record = json.loads(record_path.read_text())
    graph = record["graph"]
    # the expert drove the route while graph_builder_node recorded it
    expert = np.array(graph["expert_trajectory"])
    assert math.dist(expert[-1][:2], record["route_goal"]) < 0.5
    assert math.dist(expert[0][:2], record["route_start"][:2]) < 0.05  # it set off only once the builder recorded
    assert graph["expert_path_length_m"] > 2.0
    saved = json.loads((Path(graph["dir"]) / "graph.json").read_text())
    assert len(saved["nodes"]) == graph["nodes"] >= 3 and graph["goal_node"] == max(n["id"] for n in saved["nodes"])
    assert math.dist(graph["goal_pose"][:2], record["route_goal"]) < 1.0

    for name in ("ours", "anchor_mode"):
        run = record["runs"][name]
        assert run["reason"], run
        assert run["trajectory"] and math.dist(run["start_pose"][:2], record["route_start"][:2]) <= 0.26
        assert {"topological_planner_node", "gnm_policy_node"} <= set(run["latency_ms"]), run["latency_ms"]
        assert (Path(run["logs"]) / "topological_planner_node.log").is_file()
    assert "ldm_safety_filter_node" in record["runs"]["ours"]["latency_ms"]  # the filter ran in ours only
    assert "ldm_safety_filter_node" not in record["runs"]["anchor_mode"]["latency_ms"]
    anchor_params = Path(record["runs"]["anchor_mode"]["logs"]) / "topological_planner_node.params.yaml"
    assert "localization_mode: window" in anchor_params.read_text()
    assert (out / "trajectories.png").stat().st_size > 0 and record_path.with_suffix(".png").stat().st_size > 0

    # the same route again on the graph just built (--graphs): nothing is rebuilt, the graph is the same
    again = tmp_path / "again"
    rc = cli_main(["eval", "--out", str(again), "--worlds", "box_room", "--routes", "1", "--min-route-m", "3",
                   "--timeout-s", "4", "--model", str(gnm_model_path), "--no-filter", "--no-anchor",
                   "--graphs", str(out), "--real-time-factor", "2", "--domain-id", os.environ["ROS_DOMAIN_ID"],
                   "--log-level", "warn"])
    assert rc == 0
    reused = json.loads((again / "routes" / record_path.name).read_text())
    assert reused["graph_from"] == str(out) and not (again / "work" / record["route_id"] / "logs_build").exists()
    assert {k: reused["graph"][k] for k in ("nodes", "goal_node", "goal_pose")} == \
        {k: graph[k] for k in ("nodes", "goal_node", "goal_pose")}
    assert Path(reused["graph"]["dir"]).parent == again / "work" / record["route_id"]
    assert "ours" in reused["runs"] and "anchor_mode" not in reused["runs"]
    # another route under the same name is refused, not silently navigated on the wrong graph
    record["route_start"][0] += 1.0
    record_path.write_text(json.dumps(record))
    rc = cli_main(["eval", "--out", str(tmp_path / "wrong"), "--worlds", "box_room", "--routes", "1",
                   "--min-route-m", "3", "--model", str(gnm_model_path), "--no-filter", "--no-anchor",
                   "--graphs", str(out), "--domain-id", os.environ["ROS_DOMAIN_ID"]])
    assert rc == 0
    (why,) = json.loads((tmp_path / "wrong" / "summary.json").read_text())["routes_not_built"].values()
    assert "another route" in why


def test_monitor_reset_takes_back_the_previous_routes_go():
    """The go of one route is latched; a later route's expert must not hear it (it would drive off before the
    graph builder records, and the graph would not start where the route does)."""
    import time

    import rclpy
    from std_msgs.msg import Bool

    from gnm_nav.evaluation.monitor import StackMonitor
    from gnm_nav.ros.qos import LATCHED

    monitor = StackMonitor(domain_id=int(os.environ["ROS_DOMAIN_ID"]))
    context = rclpy.context.Context()
    rclpy.init(context=context, domain_id=int(os.environ["ROS_DOMAIN_ID"]))
    try:
        monitor.start_expert()
        monitor.reset()
        node = rclpy.create_node("late_expert", context=context)
        heard: list[bool] = []
        node.create_subscription(Bool, "expert/go", lambda m: heard.append(m.data), LATCHED)
        executor = rclpy.executors.SingleThreadedExecutor(context=context)
        executor.add_node(node)
        deadline = time.monotonic() + 10
        while not heard and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.1)
        assert heard == [False]
        monitor.start_expert()
        deadline = time.monotonic() + 10
        while heard[-1] is False and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.1)
        assert heard[-1] is True
        node.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)
        monitor.close()
