"""Evaluation bookkeeping: aggregation over routes, summary layout, the table, world lists, route pictures."""
from __future__ import annotations

import math

import numpy as np
import pytest

from gnm_nav.commands.evaluate import parse_worlds, select_routes
from gnm_nav.common.errors import GnmNavError
from gnm_nav.evaluation.report import markdown, route_png, summary, table, wilson_interval
from gnm_nav.launching.arguments import parse_arguments


def _run(success: bool, spl: float, collisions: int, interventions: int = 0, reason: str = "goal reached",
         progress: float = 0.5) -> dict:
    return {"success": success, "spl": spl, "collisions": collisions, "interventions": interventions,
            "route_progress": progress, "stuck_events": collisions // 2,
            "safety_states": {"MODIFIED": interventions} if interventions else {},
            "reason": reason, "time_s": 40.0, "path_length_m": 16.0, "safety_filter": interventions >= 0,
            "latency_ms": {"gnm_policy_node": {"inference_ms_p50": 6.0, "inference_ms_p99": 12.0 + collisions}},
            "trajectory": [[1.0, 1.0, 0.0], [3.0, 2.0, 0.0]]}


RECORDS = [
    {"route_id": "000", "world": "box_room", "graph": {"expert_trajectory": [[1.0, 1.0, 0.0], [6.0, 1.0, 0.0]]},
     "runs": {"ours": _run(True, 0.9, 0), "anchor": _run(False, 0.0, 2, reason="timeout (90 s)", progress=0.0)}},
    {"route_id": "001", "world": "box_room", "graph": {},
     "runs": {"ours": _run(True, 0.7, 1, interventions=3), "anchor": _run(True, 0.5, 1)}},
    {"route_id": "002", "world": "box_room", "error": "graph building failed: the expert did not reach the goal"},
]


def test_summary_scores_built_routes_and_lists_the_rest():
    s = summary(RECORDS, ["ours", "anchor"], {"robot": "turtlebot", "odom_noise": "typical", "changes": "both"})
    ours, anchor = s["modes"]["ours"], s["modes"]["anchor"]
    assert ours["routes"] == 2 and ours["success_rate"] == 1.0 and ours["spl"] == pytest.approx(0.8)
    assert ours["collisions"] == 1 and ours["interventions"] == 3 and ours["safety_states"] == {"MODIFIED": 3}
    assert ours["collisions_per_km"] == pytest.approx(1 / 0.032) and ours["distance_km"] == pytest.approx(0.032)
    assert anchor["success_rate"] == 0.5 and anchor["spl"] == pytest.approx(0.25) and anchor["collisions"] == 3
    assert anchor["stuck_events"] == 1 and anchor["success_ci95"] == pytest.approx(list(wilson_interval(1, 2)))
    assert anchor["failures"] == {"000": "timeout (90 s)"}
    assert anchor["latency_ms"]["gnm_policy_node"] == {"inference_ms_p50": 6.0, "inference_ms_p99": 14.0}
    assert s["routes_total"] == 3 and list(s["routes_not_built"]) == ["002"]
    assert ours["mean_route_progress"] == pytest.approx(0.5) and anchor["mean_route_progress"] == pytest.approx(0.25)
    lines = table(s).splitlines()
    assert len(lines) == 3 and "100% (34%-100%)" in lines[1] and "50% (9%-91%)" in lines[2]
    md = markdown(s).splitlines()
    assert md[2].startswith("| mode | routes | success (95% CI) |") and md[4].startswith("| ours | 2 | 100% (34%-100%)")
    assert "odometry noise typical, changes both" in md[0]


def test_wilson_interval_is_honest_at_the_edges():
    assert wilson_interval(0, 20) == pytest.approx((0.0, 0.161), abs=1e-3)
    assert wilson_interval(20, 20) == pytest.approx((0.839, 1.0), abs=1e-3)
    assert wilson_interval(17, 20) == pytest.approx((0.640, 0.948), abs=1e-3)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_readme_tables_are_written_between_their_markers(tmp_path):
    from gnm_nav.evaluation.report import document_block, update_document

    doc = tmp_path / "README.md"
    doc.write_text("intro\n<!-- gnm-nav eval report: fresh -->\nold table\n<!-- end of gnm-nav eval report -->\nrest\n")
    s = summary(RECORDS, ["ours", "anchor"], {"robot": "turtlebot"})
    update_document(doc, "fresh", markdown(s))
    assert document_block(doc, "fresh") == markdown(s)
    text = doc.read_text()
    assert text.startswith("intro\n") and text.endswith("rest\n") and "old table" not in text
    with pytest.raises(GnmNavError, match="expected one line"):
        update_document(doc, "stale", "x")


def test_route_picture_draws_the_trajectories():
    img = route_png(RECORDS[0])
    assert img.dtype == np.uint8 and img.ndim == 3
    blank = route_png({"world": "box_room"})
    assert (img != blank).any()
    assert route_png(RECORDS[0], ["anchor", "ours"]).shape == img.shape  # colours follow the mode order given


def test_world_lists():
    assert parse_worlds("", 2) == ["1000", "1001", "1002", "1003"]  # spares for seeds too small to host a route
    assert parse_worlds("1000..1002, maze:3", 5) == ["1000", "1001", "1002", "maze:3"]
    assert parse_worlds("7,maze:3", 1, prefix="large:") == ["large:7", "maze:3"]  # --preset long
    with pytest.raises(GnmNavError, match="seed range"):
        parse_worlds("9..3", 1)


def test_only_some_routes_keep_their_ids():
    tasks = ["000_1000", "001_1001", "002_1003", "003_1004"]  # stand-ins: only the order matters
    assert select_routes(tasks, "") is tasks
    assert select_routes(tasks, "3, 1") == ["001_1001", "003_1004"]  # in route order, ids (and seeds) unchanged
    with pytest.raises(GnmNavError, match=r"no route \[4\] among the 4"):
        select_routes(tasks, "1,4")
    with pytest.raises(GnmNavError, match="not a comma-separated list"):
        select_routes(tasks, "1-3")


def test_launcher_arguments_are_typed_and_checked():
    opts, kwargs = parse_arguments("sim", ["world:=7", "goal_node:=3", "use_sim_time:=true", "spawn_pose:=[1,2,0.5]",
                                           "real_time_factor:=2", "use_safety_filter:=true"])
    assert opts.use_sim_time is True
    assert kwargs == {"world": "7", "goal_node": 3, "spawn_pose": [1.0, 2.0, 0.5], "real_time_factor": 2.0,
                      "use_safety_filter": True}
    with pytest.raises(GnmNavError, match="takes no argument 'colour'"):
        parse_arguments("navigate", ["colour:=red"])
    with pytest.raises(GnmNavError, match="true or false"):
        parse_arguments("navigate", ["use_safety_filter:=maybe"])
    with pytest.raises(GnmNavError, match="unknown node set"):
        parse_arguments("teleport", [])


def test_routes_skip_worlds_too_small_only_when_asked():
    from gnm_nav.evaluation.routes import plan_routes
    from gnm_nav.sim.expert import PlanningError

    tasks, skipped = plan_routes(["box_room", "office_11"], "turtlebot", 2, 9.0, skip_unusable=True)
    assert [t.world for t in tasks] == ["office_11", "office_11"] and list(skipped) == ["box_room"]
    assert all(t.planned_length_m >= 9.0 for t in tasks) and tasks[0].goal != tasks[1].goal
    with pytest.raises(PlanningError, match="world box_room"):
        plan_routes(["box_room", "office_11"], "turtlebot", 2, 9.0)


def test_the_shipped_filter_is_used_only_with_its_own_encoder(gnm_model_path):
    from gnm_nav.commands.evaluate import resolve_models
    from gnm_nav.common.paths import DEFAULT_GNM_MODEL, DEFAULT_LDM_MODEL
    from gnm_nav.ldm.export import EncoderMismatchError

    gnm, ldm, note = resolve_models(DEFAULT_GNM_MODEL, "", True)
    assert ldm is not None and ldm.name == DEFAULT_LDM_MODEL and note == f"safety filter {DEFAULT_LDM_MODEL}"
    gnm, ldm, note = resolve_models("gnm_sim.onnx", "", True)  # another shipped GNM finds its own LDM
    assert ldm is not None and ldm.name == "ldm_sim.onnx"
    gnm, ldm, note = resolve_models(str(gnm_model_path), "", True)
    assert ldm is None and "no shipped LDM was trained on" in note
    with pytest.raises(EncoderMismatchError, match="retrain the LDM"):
        resolve_models(str(gnm_model_path), DEFAULT_LDM_MODEL, True)
    assert resolve_models(DEFAULT_GNM_MODEL, "", False)[1] is None  # no mode needs it


def test_overview_is_a_grid_of_equal_cells():
    from gnm_nav.evaluation.report import overview_png

    tall, fitting = np.zeros((400, 100, 3), np.uint8), np.zeros((50, 100, 3), np.uint8)
    sheet = overview_png([tall, fitting, fitting], cell=(200, 100), columns=2)
    assert sheet.shape == (200, 400, 3)
    assert (sheet[100:, 200:] == 255).all()  # the empty fourth cell stays white
    assert (sheet[:100, 200:] == 0).all()  # same aspect as the cell: scaled to fill it
    tall_cell = sheet[:100, :200]
    assert (tall_cell[:, 88:112] == 0).all() and (tall_cell[:, :80] == 255).all()  # 25 px wide, centred
    assert overview_png([fitting], cell=(200, 100)).shape == (100, 200, 3)


def test_route_progress_counts_the_route_in_order():
    from gnm_nav.evaluation.routes import route_progress

    # an L-shaped route: 10 m east, then 10 m north
    expert = np.array([[x, 0.0] for x in np.arange(0, 10.01, 0.1)] + [[10.0, y] for y in np.arange(0.1, 10.01, 0.1)])
    assert route_progress(expert, expert) == pytest.approx(1.0)
    half = np.array([[x, 0.3] for x in np.arange(0, 10.01, 0.1)])  # the first leg, 0.3 m off the line
    assert route_progress(expert, half) == pytest.approx(0.55, abs=0.03)  # within 1 m of the corner too
    cut = np.array([[x, 0.0] for x in np.arange(0, 8.0, 0.1)] + [[8.0 + 2 * t, 2 * t] for t in np.arange(0, 1, 0.02)]
                   + [[10.0, y] for y in np.arange(2.0, 10.01, 0.1)])  # 1.4 m inside the corner
    assert route_progress(expert, cut) == pytest.approx(1.0)  # a cut corner skips points, not the rest
    # reaching the end's neighbourhood first and the start only later counts only the start
    backwards = np.array([[10.0, 10.0], [10.0, 9.5], [0.0, 0.0]])
    assert route_progress(expert, backwards) == pytest.approx(0.05, abs=0.01)
    assert route_progress(expert, np.empty((0, 2))) == 0.0


def test_steering_report_measures_the_path_offset_and_the_carrots():
    from gnm_nav.evaluation.routes import steering_report

    expert = np.array([[x, 0.0] for x in np.arange(0, 10.01, 0.05)])
    run = np.array([[x, 0.2] for x in np.arange(0, 10.01, 0.05)])
    run[150:] += [0.0, 0.8]  # the last quarter a metre off the path
    carrots = np.array([[t, 0.5 * t + 0.6, 0.4] for t in np.arange(0.0, 10.0, 0.25)])  # carrots for 10 s of 20
    report = steering_report(expert, run, carrots, t0=0.0, end=20.0)
    assert report["path_offset_m_p50"] == pytest.approx(0.2, abs=1e-6)
    assert report["path_offset_m_p90"] == pytest.approx(1.0, abs=1e-6)
    assert report["carrot_share"] == pytest.approx(0.5)
    assert report["carrot_offset_m_p50"] == pytest.approx(0.4, abs=0.01)
    empty = steering_report(expert, run, np.empty((0, 3)), t0=0.0, end=20.0)
    assert empty["carrot_share"] == 0.0 and "carrot_offset_m_p50" not in empty




def test_odometry_drift_compares_the_run_with_the_truth_started_together():
    from gnm_nav.evaluation.runner import odometry_drift

    t = np.arange(0.0, 10.01, 0.1)
    truth = np.stack([t, 3.0 + 0.5 * t, np.full_like(t, 2.0), np.zeros_like(t)], axis=1)  # 5 m east from (3, 2)
    odom = np.stack([t, 0.5 * t * 1.02, np.zeros_like(t), np.zeros_like(t)], axis=1)  # reads 2% long, own frame
    drift = odometry_drift(truth, odom)
    assert drift["odometry_error_m"] == pytest.approx(0.1) and drift["odometry_error_pct"] == pytest.approx(2.0)
    assert drift["odometry_heading_error_deg"] == pytest.approx(0.0)
    assert odometry_drift(truth[:1], odom) == {}


def test_route_legs_of_a_branch_keep_the_trunk_only_up_to_the_branch_point():
    from gnm_nav.evaluation.runner import _route_trajectory

    trunk = np.array([[x, 0.0, 0.0] for x in np.arange(0.0, 10.01, 0.5)])
    branch = np.array([[4.0, y, 1.57] for y in np.arange(0.0, 5.01, 0.5)])
    route = _route_trajectory([trunk, branch])
    assert route[:, 0].max() == pytest.approx(4.0) and route[-1].tolist() == [4.0, 5.0, 1.57]
    assert len(route) == 9 + len(branch)


def test_branching_routes_start_the_branch_on_the_trunk():
    from gnm_nav.evaluation.routes import BRANCH_APART_M, plan_routes

    (task,), _ = plan_routes(["office_11"], "turtlebot", 1, 10.0, route_preset="branching")
    trunk_end, approach, branch_point, goal = task.legs
    assert [leg.record for leg in task.legs] == [True, False, False, True] and task.goal == goal.goal
    assert math.dist(approach.goal, branch_point.goal) <= 1.6  # it arrives at the branch point facing along the trunk
    assert math.dist(goal.goal, trunk_end.goal) >= BRANCH_APART_M and task.planned_length_m >= 10.0


def test_the_readme_tables_are_generated_from_the_committed_results():
    """Every docs/results/NAME.json is an evaluation's summary.json; README.md shows exactly the table that
    `gnm-nav eval report docs/results/NAME.json --update README.md --section NAME` writes from it."""
    from pathlib import Path

    from gnm_nav.evaluation.report import document_block, load_summary

    root = Path(__file__).resolve().parent.parent
    results = sorted((root / "docs" / "results").glob("*.json"))
    assert results
    for path in results:
        assert document_block(root / "README.md", path.stem) == markdown(load_summary(path)), path.name
