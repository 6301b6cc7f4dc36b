"""The one-process closed loop (evaluation.closed_loop), its judge (evaluation.judge) and `gnm-nav closed-loop`.

A GNM stand-in that knows the truth (the simulator's pose and each node's recorded pose) must arrive: if it does
not, the loop's wiring (frames, ticks, subgoals, supervisor, judge) is wrong, not a model.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
from sim_doubles import OracleEngine, taught_room

from gnm_nav.evaluation.judge import IDLE_WINDOW_S, Episode, RunJudge, idle, stuck


@pytest.fixture(scope="module")
def room():
    with taught_room() as taught:
        yield taught


def test_teach_records_a_node_a_second_with_its_true_pose(room):
    taught = room.taught
    nodes = taught.graph.nodes()
    stamps = [taught.graph.g.nodes[n]["stamp"] for n in nodes]
    assert len(nodes) >= 5 and np.allclose(np.diff(stamps), 1.0, atol=0.11)
    assert (taught.start_node, taught.goal_node) == (nodes[0], nodes[-1])
    assert list(taught.graph.g.edges) == list(zip(nodes[:-1], nodes[1:]))
    last = taught.graph.g.nodes[taught.goal_node]["pose"]
    assert (taught.goal_pose.x, taught.goal_pose.y) == pytest.approx(last[:2])
    assert taught.length_m >= 2.5 and math.dist(taught.expert_xy[-1], room.route.goal) < 0.5


def test_a_model_that_knows_the_truth_arrives(room):
    from gnm_nav.evaluation.closed_loop import repeat

    engine = OracleEngine(room.env, room.taught.graph)
    run = repeat(room.env, room.taught, engine, room.route.start, keep_frames=True)
    assert run.success, run.summary()
    assert run.reason == "goal reached" and run.final_distance_m <= 1.0 and run.route_progress > 0.8
    assert run.modes.get("model", 0) > run.modes.get("stop", 0)
    # the frames it saw: 4 Hz, each with the true pose it was rendered at
    times = [s.t for s in run.seen]
    assert np.allclose(np.diff(times), 0.25) and run.seen[0].frame.dtype == np.uint8
    assert (run.seen[0].pose.x, run.seen[0].pose.y) == pytest.approx((room.route.start.x, room.route.start.y))
    assert len(run.trajectory) == len(run.seen)


def test_the_steering_figures_tell_a_model_that_steers_to_its_subgoal_from_one_that_drives_straight(room):
    """subgoal_bearing_r / _gain: the bearing each model command steered at against its subgoal's true bearing; a
    model that knows where the subgoal is turns as far as it lies, one that cannot steer does not turn at all."""
    from gnm_nav.evaluation.closed_loop import LoopConfig, repeat, steering_figures

    oracle = LoopConfig(localization_mode="oracle")
    steers = steering_figures([repeat(room.env, room.taught, OracleEngine(room.env, room.taught.graph),
                                      room.route.start, oracle)])
    straight = steering_figures([repeat(room.env, room.taught,
                                        OracleEngine(room.env, room.taught.graph, steer=False), room.route.start,
                                        oracle)])
    assert steers["subgoal_bearing_pairs"] > 20 and straight["subgoal_bearing_pairs"] > 20
    assert steers["subgoal_bearing_r"] > 0.9 and 0.8 < steers["subgoal_bearing_gain"] < 1.2, steers
    assert abs(straight["subgoal_bearing_gain"]) < 0.1, straight


def test_a_model_that_knows_the_truth_arrives_with_the_belief_localiser(room):
    """localization_mode belief in the loop (no fitted likelihood beside the oracle: the uncalibrated one, which
    takes a reading at its word, as the oracle's are)."""
    from gnm_nav.evaluation.closed_loop import LoopConfig, repeat

    engine = OracleEngine(room.env, room.taught.graph)
    run = repeat(room.env, room.taught, engine, room.route.start, LoopConfig(localization_mode="belief"))
    assert run.success and run.final_distance_m <= 1.0, run.summary()


def test_a_model_that_recognises_nothing_is_judged_and_stops(room, far_gnm_model_path):
    """Every view far from every node: lost from the start, the sweep turns, and the judge ends the run."""
    from gnm_nav.evaluation.closed_loop import repeat
    from gnm_nav.gnm.engine import GNMEngine

    run = repeat(room.env, room.taught, GNMEngine(far_gnm_model_path, providers="cpu"), room.route.start)
    assert not run.success and run.reason.startswith("no progress")
    assert run.modes.get("sweep", 0) > 0 and run.seen == []
    assert run.route_progress < 0.5


def test_the_oracle_gives_subgoals_by_the_true_pose_whatever_the_model_sees(room, far_gnm_model_path):
    """localization_mode oracle: the node comes from the true pose, so a model that matches nothing still gets
    subgoals and drives (no sweep), and the oracle follows the recording's nodes and arrives at the goal's pose."""
    from gnm_nav.common.pose import Pose2D
    from gnm_nav.evaluation.closed_loop import LoopConfig, OracleLocalizer, repeat
    from gnm_nav.gnm.engine import GNMEngine

    taught = room.taught
    oracle = OracleLocalizer(taught, 1.0)
    nodes = taught.graph.nodes()
    for node in nodes:
        x, y, yaw = taught.graph.g.nodes[node]["pose"]
        at_goal = math.hypot(x + 0.05 - taught.goal_pose.x, y - taught.goal_pose.y) <= 1.0
        assert oracle.step(Pose2D(x + 0.05, y, yaw)) == (node, at_goal)
    assert at_goal and OracleLocalizer(taught, 1.0).step(room.route.start) == (nodes[0], False)
    run = repeat(room.env, taught, GNMEngine(far_gnm_model_path, providers="cpu"), room.route.start,
                 LoopConfig(localization_mode="oracle"))
    assert run.modes.get("model", 0) > 0 and run.modes.get("sweep", 0) == 0, run.summary()


def test_with_odometry_the_graph_holds_the_odometry_poses_and_the_policy_gets_the_carrot(monkeypatch):
    """use_odometry (ours_no_filter): the teach records the odometry's poses (zero at the start, as a base powered
    on) beside the true places; on the repeat the policy steers with the planner's carrot (the subgoal's place by
    odometry, in the base frame) at odometry_steering, and without odometry it gets none."""
    import gnm_nav.evaluation.closed_loop as loop
    from gnm_nav.control.policy import GNMPolicy

    carrots: list[np.ndarray | None] = []
    shares: list[float] = []

    class Recording(GNMPolicy):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            shares.append(self.odometry_steering)

        def step(self, obs_img, goal_img, now_s, subgoal_offset_m=None, clear_heading=None):
            carrots.append(subgoal_offset_m)
            return super().step(obs_img, goal_img, now_s, subgoal_offset_m, clear_heading)

    monkeypatch.setattr(loop, "GNMPolicy", Recording)
    config = loop.LoopConfig(use_odometry=True)
    with taught_room(config) as room:
        taught = room.taught
        poses = np.array([taught.graph.g.nodes[n]["pose"][:2] for n in taught.graph.nodes()])
        assert len(taught.node_xy) == len(poses) and np.linalg.norm(poses[0]) < 0.3
        assert math.dist(taught.node_xy[0], (room.route.start.x, room.route.start.y)) < 0.3
        assert np.allclose(np.linalg.norm(np.diff(poses, axis=0), axis=1),
                           np.linalg.norm(np.diff(taught.node_xy, axis=0), axis=1), atol=0.05)
        engine = OracleEngine(room.env, taught.graph, places=taught.node_xy)
        run = loop.repeat(room.env, taught, engine, room.route.start, config)
        assert run.success, run.summary()
        given = [c for c in carrots if c is not None]
        assert shares == [config.odometry_steering] and len(given) > 0.8 * len(carrots)
        # the carrot is ahead of the robot, at least the pure-pursuit distance away
        assert np.median([c[0] for c in given]) > 0 and min(np.hypot(*c) for c in given) >= 0.3
        carrots.clear()
        loop.repeat(room.env, taught, engine, room.route.start, loop.LoopConfig())
    assert shares == [config.odometry_steering, 0.0] and carrots and all(c is None for c in carrots)
    assert config.mode == "ours_no_filter" and loop.LoopConfig().mode == "vision_only_no_filter"


def test_an_unknown_localization_mode_is_refused_before_driving(gnm_model_path, capsys):
    from gnm_nav.cli import main
    from gnm_nav.common.errors import GnmNavError
    from gnm_nav.evaluation.closed_loop import LoopConfig

    with pytest.raises(GnmNavError, match="window"):
        LoopConfig(localization_mode="window")
    assert main(["closed-loop", str(gnm_model_path), "--localization-mode", "odometry"]) == 2
    assert "localization mode must be one of graph, belief, oracle, got 'odometry'" in capsys.readouterr().err


def test_judge_episodes_count_starts_and_time_without_a_break():
    episode = Episode()
    assert [episode.update(h, t) for t, h in [(0, False), (1, True), (2, True), (3, False), (4, True), (9, True)]] == \
        [0.0, 0.0, 1.0, 0.0, 0.0, 5.0]
    assert episode.events == 2


def test_judge_tells_stuck_idle_off_route_and_timeout_apart():
    still = [(0.1 * k, 1.0, 2.0, 0.0) for k in range(400)]  # 40 s standing at (1, 2)
    now = still[-1][0]
    assert stuck(now, still, [t for t, *_ in still[-30:]]) and not stuck(now, still, [])
    assert idle(now, still, 0.0) and not idle(now, still, now - IDLE_WINDOW_S + 1)
    moving = [(0.1 * k, 0.02 * k, 0.0, 0.0) for k in range(400)]
    assert not stuck(now, moving, [t for t, *_ in moving]) and not idle(now, moving, 0.0)
    judge = RunJudge(np.array([[0.0, 0.0], [10.0, 0.0]]), 0.0, limit_s=100.0)
    assert judge.verdict(now, moving, []) == ""
    assert judge.verdict(150.0, moving, []).startswith("timeout")
    far = RunJudge(np.array([[20.0, 20.0]]), 0.0, limit_s=1000.0)
    verdicts = [far.verdict(t, moving[:int(t * 10) + 1], []) for t in np.arange(0.0, 39.0, 0.5)]
    assert any(v.startswith("more than 3 m off the route") for v in verdicts) and far.off_route.events == 1
    jammed = RunJudge(np.array([[1.0, 2.0]]), 0.0, limit_s=1000.0)
    ticks = [t for t, *_ in still]
    verdicts = [jammed.verdict(t, still[:int(t * 10) + 1], ticks[:int(t * 10) + 1]) for t in np.arange(0, 30, 0.5)]
    assert "stuck against an obstacle" in verdicts and jammed.ended_stuck


def test_loop_settings_are_the_nodes_defaults():
    """The loop reproduces the shipped stack: its settings are the nodes' parameter defaults."""
    from gnm_nav.evaluation.closed_loop import LoopConfig
    from gnm_nav.nodes.graph_builder_node import PARAMS as BUILDER
    from gnm_nav.nodes.planner_node import PARAMS as PLANNER
    from gnm_nav.nodes.policy_node import PARAMS as POLICY

    policy = {p.name: p.default for p in POLICY}
    builder = {p.name: p.default for p in BUILDER}
    config = LoopConfig()
    assert (config.policy_rate_hz, config.source_timeout_s, config.controller) == (
        policy["max_rate_hz"], policy["source_timeout"], policy["controller"])
    assert config.record_interval_s == builder["record_interval_s"]
    assert config.localization_mode == {p.name: p.default for p in PLANNER}["localization_mode"]
    assert config.odometry_steering == policy["odometry_steering"]  # what the stack steers with odometry


def test_closed_loop_command_writes_report_pictures_and_card(gnm_model_path, tmp_path):
    import shutil

    from gnm_nav.cli import main
    from gnm_nav.gnm.card import load_model_card, part_path_for

    model = tmp_path / "m.onnx"
    for part in ("whole", "obs", "goal"):
        shutil.copyfile(part_path_for(gnm_model_path, part), part_path_for(model, part))
    card = json.loads(gnm_model_path.with_suffix(".json").read_text())
    card["files"] = {part: part_path_for(model, part).name for part in ("whole", "obs", "goal")}
    model.with_suffix(".json").write_text(json.dumps(card))
    assert main(["closed-loop", str(model), "--worlds", "box_room", "--routes", "1", "--min-route-m", "3",
                 "--robot", "locobot", "--out", str(tmp_path / "out"), "--card", "--controller", "gnm"]) == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["routes"] == 1 and len(summary["runs"]) == 1 and summary["mode"] == "vision_only_no_filter"
    assert (summary["controller"], summary["localization_mode"]) == ("gnm", "graph")
    assert (tmp_path / "out" / "overview.png").stat().st_size > 0
    assert (tmp_path / "out" / "routes" / f"{summary['runs'][0]['route_id']}.png").is_file()
    written = load_model_card(model)  # the card stays valid, its files unchanged
    assert written.closed_loop["routes"] == 1 and "runs" not in written.closed_loop
    assert written.closed_loop["command"].startswith("gnm-nav closed-loop")


def test_compare_ranks_open_loop_figures_by_their_agreement_with_the_closed_loop():
    from gnm_nav.commands.closed_loop import open_loop_agreement

    figures = [({"waypoint_lateral_r": r, "distance_mae_steps": m, "note": "x"}, p)
               for r, m, p in [(0.5, 3.0, 0.2), (0.6, 2.0, 0.4), (0.7, 2.5, 0.6), (0.8, 1.0, 0.8)]]
    rho = open_loop_agreement(figures)
    assert rho["waypoint_lateral_r"] == pytest.approx(1.0)
    assert rho["distance_mae_steps"] == pytest.approx(-0.8)
    assert "note" not in rho
    assert all(math.isnan(v) for v in open_loop_agreement([(m, 0.5) for m, _ in figures]).values())


def test_compare_measures_every_model_on_the_same_data(gnm_model_path, tmp_path):
    from gnm_nav.commands.closed_loop import open_loop_figures
    from gnm_nav.data.gnm_format import write_data_config, write_splits, write_trajectory

    rng = np.random.default_rng(0)
    for k in range(2):
        frames = [rng.integers(0, 255, (48, 64, 3), dtype=np.uint8) for _ in range(24)]
        write_trajectory(tmp_path / "data" / "bot", f"t{k}", frames, np.c_[np.arange(24) * 0.1, np.zeros(24)],
                         np.zeros(24))
    write_splits(tmp_path / "data", "bot", ["t0"], ["t1"])
    write_data_config(tmp_path / "data", {"bot": {"metric_waypoint_spacing": 0.1}})
    figures = open_loop_figures([gnm_model_path, gnm_model_path], tmp_path / "data", tmp_path)
    assert json.dumps(figures[0]) == json.dumps(figures[1])  # (NaN where a figure is undefined on so little)
    assert {"distance_spearman", "waypoint_lateral_r"} <= set(figures[0])


def test_closed_loop_command_refuses_what_it_cannot_measure(tmp_path, gnm_model_path, capsys):
    from gnm_nav.cli import main

    assert main(["closed-loop", str(tmp_path / "missing.onnx")]) == 2
    assert main(["closed-loop", str(gnm_model_path), "--worlds", "no_such_world"]) == 2
    assert main(["closed-loop", str(gnm_model_path), "--compare", "--data", str(tmp_path)]) == 2
    assert main(["closed-loop", str(gnm_model_path), "--odometry-steering", "0.5"]) == 2  # vision only: no odometry
    assert main(["closed-loop", str(gnm_model_path), "--use-odometry", "--odometry-steering", "1.5"]) == 2
    err = capsys.readouterr().err
    assert "missing.onnx not found" in err and "no_such_world" in err and "at least 3 models" in err
    assert err.count("--odometry-steering needs --use-odometry") == 2


def test_closed_loop_table_is_written_from_the_reports(tmp_path, capsys):
    from gnm_nav.cli import main

    report = {"model": "/x/m.onnx", "robot": "turtlebot", "worlds": "3000..3019", "successes": 3, "routes": 10,
              "route_progress": 0.614, "collisions_per_km": 123.4, "stuck_events": 2}
    (tmp_path / "summary.json").write_text(json.dumps(report))
    doc = tmp_path / "README.md"
    doc.write_text("intro\n<!-- gnm-nav closed-loop report: card -->\nold\n"
                   "<!-- end of gnm-nav closed-loop report -->\nend\n")
    assert main(["closed-loop", "--table", str(tmp_path / "summary.json"), "--update", str(doc),
                 "--section", "card"]) == 0
    text = doc.read_text()
    assert "| `m.onnx`" in text and "| 3/10 | 61% | 123 | 2 |" in text and "old" not in text
    assert text.startswith("intro\n") and text.endswith("end\n") and "steering" not in text
    newer = tmp_path / "newer.json"  # with the steering figures: a column, "-" for a report from before them
    newer.write_text(json.dumps({**report, "subgoal_bearing_r": 0.123, "subgoal_bearing_gain": 0.456}))
    assert main(["closed-loop", "--table", f"{tmp_path / 'summary.json'},{newer}"]) == 0
    rows = capsys.readouterr().out.strip().splitlines()[-2:]
    assert rows[0].endswith("| 2 | - |") and rows[1].endswith("| 2 | 0.12, 0.46 |")
    assert main(["closed-loop", "--table", str(tmp_path / "missing.json")]) == 2


def test_the_readme_closed_loop_tables_are_generated_from_the_committed_reports():
    """README's closed-loop blocks are exactly what `gnm-nav closed-loop --table` writes from the reports they name."""
    import re
    from pathlib import Path

    from gnm_nav.commands.closed_loop import markdown
    from gnm_nav.evaluation.report import document_block

    root = Path(__file__).resolve().parent.parent
    sections = re.findall(r"<!-- gnm-nav closed-loop report: (\w+) -->", (root / "README.md").read_text())
    assert {"card", "dagger1", "policy_alone"} <= set(sections)
    for section in sections:
        block = document_block(root / "README.md", section, kind="closed-loop")
        files = re.findall(r"\((docs/results/closed_loop/[^)]+\.json)\)", block)
        assert files, section
        assert block == markdown([(f, json.loads((root / f).read_text())) for f in files]), section


def test_the_repeat_meets_the_benchmarks_changed_world(gnm_model_path):
    """LoopConfig.changes: the repeat drives in the world the benchmark's repeat finds (the same changed copy,
    from the route's seed), and that simulator is closed when the campaign moves on."""
    from gnm_nav.evaluation.closed_loop import LoopConfig, drive_routes
    from gnm_nav.evaluation.routes import plan_routes, repeat_world_spec
    from gnm_nav.gnm.engine import GNMEngine

    tasks, _ = plan_routes(["box_room"], "locobot", 1, 3.0)
    drives = drive_routes(tasks, GNMEngine(gnm_model_path, providers="cpu"), "locobot",
                          config=LoopConfig(changes="both"))
    drive = next(drives)
    goal = drive.taught.goal_pose
    expected, report = repeat_world_spec(tasks[0], (goal.x, goal.y), "both", "locobot")
    assert drive.env.world == expected and drive.env.world.name.endswith("_changed_both")
    assert report["changed_finishes"] > 0 and drive.run.reason
    env = drive.env
    drives.close()
    assert env._renderer is None  # closed
