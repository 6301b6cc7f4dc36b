"""Tiny closed-loop evaluations end to end through `gnm-nav eval`: the expert builds the graphs with
graph_builder_node (processes over DDS), then every mode runs from the same perturbed start in the same changed
world. A random-weight model does not navigate, so this checks the benchmark, not success."""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest

from gnm_nav.cli import main as cli_main


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


ALL_MODES = "ours,ours_no_filter,vision_only,vision_only_no_filter,odometry_replay,anchor"


def _eval(out: Path, *extra: str, model: Path, ldm: Path | None = None) -> int:
    args = ["eval", "--out", str(out), "--worlds", "box_room", "--min-route-m", "3", "--timeout-s", "6",
            "--model", str(model), "--real-time-factor", "2", "--domain-id", os.environ["ROS_DOMAIN_ID"],
            "--log-level", "warn", *extra]
    return cli_main(args + (["--ldm", str(ldm)] if ldm else []))


def test_every_mode_end_to_end_on_the_same_graphs(gnm_model_path, random_ldm, tmp_path, capsys):
    """Two routes, every mode, odometry noise and a changed world; then the same command again continues (here:
    nothing left to do), other settings in the same folder are refused, and --graphs reuses the graphs."""
    out = tmp_path / "eval"
    rc = _eval(out, "--routes", "2", "--modes", ALL_MODES, "--changes", "both", "--odom-noise", "typical",
               model=gnm_model_path, ldm=random_ldm)
    assert rc == 0
    assert _processes_mentioning(str(out)) == [], "node processes outlived the evaluation"
    printed = capsys.readouterr().out
    assert "odometry noise typical, changes both" in printed and "success (95% CI)" in printed

    summary = json.loads((out / "summary.json").read_text())
    assert list(summary["modes"]) == ALL_MODES.split(",") and summary["routes_not_built"] == {}
    for name, block in summary["modes"].items():
        assert block["routes"] == 2, name
        assert 0.0 <= block["success_rate"] <= 1.0 and 0.0 <= block["success_ci95"][0] <= block["success_ci95"][1]
        assert isinstance(block["collisions"], int) and isinstance(block["stuck_events"], int)
        assert block["safety_filter"] == (name in ("ours", "vision_only"))

    records = {p.stem: json.loads(p.read_text()) for p in sorted((out / "routes").glob("*.json"))}
    assert len(records) == 2
    for record in records.values():
        graph = record["graph"]
        expert = np.array(graph["expert_trajectory"])
        assert math.dist(expert[-1][:2], record["route_goal"]) < 0.5
        assert math.dist(expert[0][:2], record["route_start"][:2]) < 0.05  # it set off only once the builder recorded
        saved = json.loads((Path(graph["dir"]) / "graph.json").read_text())
        assert len(saved["nodes"]) == graph["nodes"] >= 3 and graph["goal_node"] == max(n["id"] for n in saved["nodes"])
        assert all("pose" in n for n in saved["nodes"])  # recorded with (noisy) odometry: the replay needs it
        first = min(saved["nodes"], key=lambda n: n["id"])["pose"]
        assert math.hypot(first[0], first[1]) < 0.05  # the first node is where the drive began, not on the way
        assert record["changes"]["kind"] == "both" and Path(record["changes"]["world_file"]).is_file()
        starts = {tuple(run["start_pose"]) for run in record["runs"].values()}
        assert len(starts) == 1 and math.dist(next(iter(starts))[:2], record["route_start"][:2]) <= 0.26
        for name, run in record["runs"].items():
            assert run["reason"] and run["trajectory"], (name, run["reason"])
            sim_params = (Path(run["logs"]) / "mujoco_sim_node.params.yaml").read_text()
            assert "world_repeat.yaml" in sim_params and "odom_noise: typical" in sim_params  # same world, noise
            assert (Path(run["logs"]) / "mujoco_sim_node.log").is_file()
        runs = record["runs"]
        assert "ldm_safety_filter_node" in runs["ours"]["latency_ms"]  # the filter ran where the mode has it
        assert "ldm_safety_filter_node" not in runs["ours_no_filter"]["latency_ms"]
        for name in ("ours", "ours_no_filter"):  # camera frame -> the command answering it, at the base
            stack = runs[name]["latency_ms"]["stack"]
            assert 0 < stack["camera_to_cmd_ms_p50"] <= stack["camera_to_cmd_ms_p99"] < 5000, (name, stack)
        assert "camera_to_policy_ms_p50" in runs["ours"]["latency_ms"]["stack"]  # and at the policy, before the filter
        planner_params = "topological_planner_node.params.yaml"
        assert "localization_mode: window" in (Path(runs["anchor"]["logs"]) / planner_params).read_text()
        assert "use_odometry: false" in (Path(runs["vision_only"]["logs"]) / planner_params).read_text()
        replay_logs = Path(runs["odometry_replay"]["logs"])
        assert (replay_logs / "odometry_replay_node.log").is_file()
        assert not (replay_logs / "gnm_policy_node.log").exists()
        assert runs["odometry_replay"]["steering"]["carrot_share"] > 0  # it steered at recorded poses
    assert (out / "trajectories.png").stat().st_size > 0

    # the same command again: everything is there, nothing is rerun
    before = {p.name: p.stat().st_mtime_ns for p in (out / "routes").glob("*.json")}
    rc = _eval(out, "--routes", "2", "--modes", ALL_MODES, "--changes", "both", "--odom-noise", "typical",
               model=gnm_model_path, ldm=random_ldm)
    assert rc == 0 and before == {p.name: p.stat().st_mtime_ns for p in (out / "routes").glob("*.json")}
    # other settings in the same folder would mix results: refused before anything runs
    assert _eval(out, "--routes", "2", "--modes", "anchor", "--changes", "none", model=gnm_model_path) == 2
    assert "changes" in capsys.readouterr().err

    # the first route's graph again (--graphs), one mode, an interrupted run's leftovers continued
    again = tmp_path / "again"
    rc = _eval(again, "--routes", "2", "--only", "0", "--modes", "anchor", "--graphs", str(out), model=gnm_model_path)
    assert rc == 0
    (name,) = [p.name for p in (again / "routes").glob("*.json")]
    reused = json.loads((again / "routes" / name).read_text())
    first = records[name[:-5]]
    assert reused["graph_from"] == str(out) and not (again / "work" / reused["route_id"] / "logs_build").exists()
    assert {k: reused["graph"][k] for k in ("nodes", "goal_node", "goal_pose")} == \
        {k: first["graph"][k] for k in ("nodes", "goal_node", "goal_pose")}
    assert list(reused["runs"]) == ["anchor"] and "changes" not in reused
    # a stack that never places itself on the graph (here: the planner listens to a compressed camera topic that
    # has no publisher) is a recorded failure to start, with the robot's pose, not an evaluation error
    blind = tmp_path / "blind.yaml"
    blind.write_text("/**/topological_planner_node:\n  ros__parameters:\n    image_transport: compressed\n")
    rc = _eval(tmp_path / "blind", "--routes", "2", "--only", "0", "--modes", "vision_only_no_filter", "--graphs",
               str(out), "--params", str(blind), "--startup-timeout-s", "15", "--start-perturbation", "0,0",
               model=gnm_model_path)
    assert rc == 0
    (never,) = [json.loads(p.read_text()) for p in (tmp_path / "blind" / "routes").glob("*.json")]
    run = never["runs"]["vision_only_no_filter"]
    assert run["reason"].startswith("never started") and not run["success"] and run["trajectory"]
    assert run["start_pose"] == pytest.approx(never["route_start"])  # no start perturbation asked for

    # another route under the same name is refused, not silently navigated on the wrong graph
    first["route_start"][0] += 1.0
    (out / "routes" / name).write_text(json.dumps(first))
    assert _eval(tmp_path / "wrong", "--routes", "1", "--modes", "anchor", "--graphs", str(out),
                 model=gnm_model_path) == 0
    (why,) = json.loads((tmp_path / "wrong" / "summary.json").read_text())["routes_not_built"].values()
    assert "another route" in why


def test_bad_arguments_fail_before_anything_is_launched(gnm_model_path, tmp_path, capsys):
    out = tmp_path / "never"
    for extra, why in [(["--modes", "ours,teleport"], "unknown evaluation mode 'teleport'"),
                       (["--modes", "anchor", "--worlds", "-4"], "unknown world '-4'"),
                       (["--modes", "ours"], "need the safety filter"),  # the shipped LDM is another encoder's
                       (["--modes", "anchor", "--params", str(tmp_path / "none.yaml")], "no such file"),
                       (["--modes", "anchor", "--start-perturbation", "0.2"], "is not XY_M,YAW_RAD"),
                       (["--modes", "anchor", "--start-perturbation", "0.2,-1"], "needs 0 <= XY_M"),
                       (["--modes", "anchor", "--startup-timeout-s", "0"], "must be > 0")]:
        assert _eval(out, "--routes", "1", *extra, model=gnm_model_path) == 2
        assert why in capsys.readouterr().err
    params = tmp_path / "p.yaml"
    params.write_text("/**/gnm_polcy_node:\n  ros__parameters: {max_v: 0.2}\n")
    assert _eval(out, "--routes", "1", "--modes", "anchor", "--params", str(params), model=gnm_model_path) == 2
    assert "unknown node '/**/gnm_polcy_node'" in capsys.readouterr().err
    assert not out.exists()


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
