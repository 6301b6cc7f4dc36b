"""topological_planner_node and graph_builder_node over real DDS, and their parameter files."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rclpy.parameter import Parameter
from sensor_msgs.msg import Image
from std_msgs.msg import Bool, Int32, String
from visualization_msgs.msg import MarkerArray

from gnm_nav.graph.nav_state import NavState
from gnm_nav.graph.store import TopoGraph
from gnm_nav.graph.synthetic import route_texture, view
from gnm_nav.nodes import graph_builder_node, planner_node
from gnm_nav.ros.images import rgb_to_msg

ROOT = Path(__file__).resolve().parent.parent
SPACING_PX = 8


@pytest.fixture(scope="module")
def texture():
    return route_texture(30 * SPACING_PX, seed=21)


@pytest.fixture
def graph_dir(tmp_path, texture) -> Path:
    graph = TopoGraph()
    for i in range(30):
        graph.add_node(view(texture, i * SPACING_PX), stamp=float(i))
        if i:
            graph.add_edge(i - 1, i, 1.0, "temporal")
    return graph.save(tmp_path / "graph")


def _stream(ros, camera, texture, seconds: float, fps: float = 20.0) -> None:
    ros.wait_matched(camera)
    t0 = time.time()
    for k in range(int(seconds * fps)):
        camera.publish(rgb_to_msg(view(texture, 5 * SPACING_PX + k * 0.2), t0 + k / fps, "camera"))
        time.sleep(1.0 / fps)


def _planner(ros, graph_dir, model_path, **overrides) -> planner_node.PlannerNode:
    params = {"graph_dir": str(graph_dir), "gnm_model_path": str(model_path), "providers": "cpu",
              "image_qos": "reliable", **overrides}
    return ros.add(planner_node.PlannerNode(context=ros.context,
                                            parameter_overrides=[Parameter(k, value=v) for k, v in params.items()]))


def test_planner_publishes_subgoal_closest_node_markers(ros, graph_dir, texture, gnm_model_path):
    node = _planner(ros, graph_dir, gnm_model_path, goal_node=29)
    subgoals = ros.collect(Image, "gnm/subgoal")
    closest = ros.collect(Int32, "gnm/closest_node")
    reached = ros.collect(Bool, "gnm/goal_reached")
    markers = ros.collect(MarkerArray, "gnm/graph_markers")
    states = ros.collect(String, "gnm/nav_state")
    _stream(ros, ros.publisher(Image, "camera/image_raw"), texture, seconds=2.5)
    assert ros.wait_for(lambda: subgoals and closest and reached and markers and states, timeout=10)
    state = NavState.from_json(states[-1].data)
    assert state.goal == 29 and state.waypoints == 1 and 0 <= state.node < 30 and state.confidence is None
    assert subgoals[-1].encoding == "rgb8" and (subgoals[-1].width, subgoals[-1].height) == (85, 64)
    assert 0 <= closest[-1].data < 30 and reached[-1].data is False
    assert any(m.ns == "nodes" and len(m.points) == 30 for m in markers[-1].markers)
    # goal_node is validated at runtime: a node that does not exist is rejected, an existing one accepted.
    result = node.set_parameters([Parameter("goal_node", value=99)])[0]
    assert not result.successful and "goal node 99 does not exist" in result.reason
    assert node.set_parameters([Parameter("goal_node", value=3)])[0].successful
    assert node._nav.planner.goal == 3
    # so is start_node (an estimate of where the robot is): unknown rejected, a known one re-localises around it
    result = node.set_parameters([Parameter("start_node", value=99)])[0]
    assert not result.successful and "start node 99 does not exist" in result.reason
    assert node.set_parameters([Parameter("start_node", value=5)])[0].successful
    assert node._nav.localizer._last_belief == 5


def test_goal_lists_and_localise_at_node(ros, graph_dir, texture, gnm_model_path):
    """A mission over DDS: each goal reported as reached in turn on gnm/current_waypoint, gnm/goal_reached only
    at its end; lists naming unknown nodes refused (topic and parameter); "you are at node N" on gnm/localize_at.
    (goal_threshold is huge so the seeded random model reaches a goal as soon as it scores it.)"""
    from std_msgs.msg import Int32MultiArray

    graph = TopoGraph.load(graph_dir)
    for i in range(1, len(graph)):  # both ways, so every goal has a route from wherever the random model puts us
        graph.add_edge(i, i - 1, 1.0, "manual")
    node = _planner(ros, graph.save(graph_dir), gnm_model_path, goal_threshold=1e9)
    closest = ros.collect(Int32, "gnm/closest_node")
    waypoints = ros.collect(Int32, "gnm/current_waypoint")
    reached = ros.collect(Bool, "gnm/goal_reached")
    goals = ros.publisher(Int32MultiArray, "gnm/goal_nodes")
    localize = ros.publisher(Int32, "gnm/localize_at")
    camera = ros.publisher(Image, "camera/image_raw")
    _stream(ros, camera, texture, seconds=1.5)
    assert ros.wait_for(lambda: closest and closest[-1].data >= 0, timeout=10)
    here = closest[-1].data
    ros.wait_matched(goals)
    goals.publish(Int32MultiArray(data=[here, 99]))  # refused whole: 99 is not a node
    goals.publish(Int32MultiArray(data=[here, here, here]))  # a patrol that stays put: three goals, in turn
    _stream(ros, camera, texture, seconds=2.0)
    assert ros.wait_for(lambda: reached and reached[-1].data, timeout=10)
    shown = [m.data for m in waypoints]
    assert shown[shown.index(0):] == [0, 1, 2, 3], shown  # each goal reported, then the mission's end (3 of 3)
    assert node._nav.mission.goals == (here, here, here) and node._nav.mission.complete
    # the parameter does the same, and is checked against the graph
    result = node.set_parameters([Parameter("goal_nodes", value=[2, 99])])[0]
    assert not result.successful and "goal node 99 does not exist" in result.reason
    assert node.set_parameters([Parameter("goal_nodes", value=[2, 4])])[0].successful
    assert node._nav.mission.goals == (2, 4) and ros.wait_for(lambda: waypoints[-1].data == 0, timeout=5)
    ros.wait_matched(localize)
    localize.publish(Int32(data=99))  # refused: not a node
    localize.publish(Int32(data=7))
    assert ros.wait_for(lambda: node._nav.localizer._last_belief == 7, timeout=5)


def test_start_node_not_in_the_graph_is_a_clear_error(ros, graph_dir, gnm_model_path):
    node = _planner(ros, graph_dir, gnm_model_path, goal_node=29, start_node=30)
    assert node._nav is None and "start node 30 is not in the graph (nodes 0..29)" in node._status


def test_goal_image_that_matches_nothing_clears_the_goal(ros, graph_dir, texture, far_gnm_model_path):
    node = _planner(ros, graph_dir, far_gnm_model_path, goal_node=29)  # a model that recognises nothing
    goal_pub = ros.publisher(Image, "gnm/goal_image")
    assert ros.wait_for(lambda: (goal_pub.publish(rgb_to_msg(view(texture, 0), 0.0, "camera")) or
                                 node._nav.planner.goal is None), timeout=10)
    assert "goal image matches no graph node" in node._status


def test_bad_graph_keeps_the_node_up_without_subgoals(ros, tmp_path, texture, gnm_model_path):
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "graph.json").write_text("{ not json")
    node = _planner(ros, tmp_path / "broken", gnm_model_path)
    subgoals = ros.collect(Image, "gnm/subgoal")
    diagnostics = ros.collect(DiagnosticArray, "/diagnostics")
    _stream(ros, ros.publisher(Image, "camera/image_raw"), texture, seconds=1.0)
    assert ros.wait_for(lambda: any(s.level == DiagnosticStatus.ERROR and "not valid JSON" in s.message
                                    for d in diagnostics for s in d.status), timeout=10)
    assert not subgoals and node._nav is None
    assert not node.set_parameters([Parameter("goal_node", value=1)])[0].successful


def test_planner_takes_odometry_and_ignores_nan_poses(ros, tmp_path, texture, gnm_model_path):
    from nav_msgs.msg import Odometry

    graph = TopoGraph()
    for i in range(30):
        graph.add_node(view(texture, i * SPACING_PX), stamp=float(i), pose=[0.2 * i, 0.0, 0.0], session=0)
        if i:
            graph.add_edge(i - 1, i, 1.0, "temporal")
    node = _planner(ros, graph.save(tmp_path / "graph"), gnm_model_path, goal_node=29)
    diagnostics = ros.collect(DiagnosticArray, "/diagnostics")
    odom = ros.publisher(Odometry, "odom")
    ros.wait_matched(odom)
    for x in (float("nan"), 0.5, 1.0):
        msg = Odometry()
        msg.pose.pose.position.x = x
        msg.pose.pose.orientation.w = 1.0
        odom.publish(msg)
    _stream(ros, ros.publisher(Image, "camera/image_raw"), texture, seconds=1.5)

    def odometry_state() -> str:
        return next((kv.value for d in reversed(diagnostics) for s in d.status for kv in s.values
                     if kv.key == "odometry"), "")

    assert ros.wait_for(lambda: "since the last anchor" in odometry_state(), timeout=10), odometry_state()
    assert node._nav.odometry._odom.tolist() == [1.0, 0.0, 0.0]  # the NaN pose never reached the core
    node.set_parameters([Parameter("use_odometry", value=False)])
    assert ros.wait_for(lambda: odometry_state() == "off", timeout=10)


def test_planner_localises_with_the_belief_and_reports_its_state(ros, graph_dir, texture, gnm_model_path, tmp_path):
    """localization_mode belief over DDS: a model without a fitted likelihood localises with an uncalibrated one
    (said once), a named likelihood that cannot be read stops navigation with the reason; the state and confidence
    reach /diagnostics."""
    from gnm_nav.graph.likelihood import DistanceLikelihood, save_likelihood

    node = _planner(ros, graph_dir, gnm_model_path, goal_node=29, localization_mode="belief")
    diagnostics = ros.collect(DiagnosticArray, "/diagnostics")
    closest = ros.collect(Int32, "gnm/closest_node")

    def value(key: str) -> str:
        return next((kv.value for d in reversed(diagnostics) for s in d.status for kv in s.values if kv.key == key), "")

    _stream(ros, ros.publisher(Image, "camera/image_raw"), texture, seconds=2.5)
    assert ros.wait_for(lambda: value("nodes_to_goal") != "", timeout=10)  # a tick's NavState reached diagnostics
    assert value("nav_state") in ("initialising", "tracking", "lost", "relocalising"), value("nav_state")
    assert node._nav.localizer.likelihood == DistanceLikelihood.uncalibrated()
    assert float(value("localization_confidence")) >= 0.0 and closest  # (the random model may place it anywhere)
    assert node.set_parameters([Parameter("likelihood_path", value=str(tmp_path / "missing.json"))])[0].successful
    assert node._nav is None and "no distance likelihood at" in node._status
    fitted = DistanceLikelihood.uncalibrated()
    path = save_likelihood(DistanceLikelihood(fitted.offsets, fitted.mean, fitted.sd, 17.0, 2.0), tmp_path / "l.json")
    assert node.set_parameters([Parameter("likelihood_path", value=str(path))])[0].successful
    assert node._nav is not None and node._nav.localizer.likelihood.far_mean == 17.0


def test_graph_builder_records_and_saves_on_shutdown(ros, tmp_path, texture):
    out = tmp_path / "recorded"
    node = ros.add(graph_builder_node.GraphBuilderNode(context=ros.context, parameter_overrides=[
        Parameter("graph_dir", value=str(out)), Parameter("image_qos", value="reliable"),
        Parameter("record_interval_s", value=0.5), Parameter("autosave_period", value=0.0),
        Parameter("markers_period", value=0.2)]))
    markers = ros.collect(MarkerArray, "gnm/graph_markers")
    _stream(ros, ros.publisher(Image, "camera/image_raw"), texture, seconds=2.0)
    assert ros.wait_for(lambda: len(node.session.nodes) >= 3 and markers, timeout=10)
    assert not (out / "graph.json").exists()  # autosave off: nothing written yet
    node.finish()  # what destroy_node (Ctrl-C) does
    graph = TopoGraph.load(out)
    assert len(graph) == len(node.session.nodes) >= 3
    assert all(d["kind"] == "temporal" for _, _, d in graph.g.edges(data=True))
    assert np.allclose([d["weight"] for _, _, d in graph.g.edges(data=True)], 0.5, atol=0.06)


def test_graph_builder_poses_nodes_from_odometry_at_their_own_stamps(ros, tmp_path, texture):
    """A first frame before any odometry, then odometry that runs ahead of the frames (a busy builder handles
    frames late): each node still gets the pose of its own image stamp."""
    from builtin_interfaces.msg import Time
    from nav_msgs.msg import Odometry

    node = ros.add(graph_builder_node.GraphBuilderNode(context=ros.context, parameter_overrides=[
        Parameter("graph_dir", value=str(tmp_path / "recorded")), Parameter("image_qos", value="reliable"),
        Parameter("record_interval_s", value=0.3), Parameter("autosave_period", value=0.0)]))
    odom, camera = ros.publisher(Odometry, "odom"), ros.publisher(Image, "camera/image_raw")
    ros.wait_matched(odom)
    ros.wait_matched(camera)
    t0 = 1000.0
    camera.publish(rgb_to_msg(view(texture, 0), t0 - 0.1, "camera"))  # a first frame before any odometry ...
    assert ros.wait_for(lambda: len(node.session.nodes) == 1, timeout=10)
    for k in range(61):  # 3 s of odometry at 20 Hz, all of it before the first frame; x = seconds since t0
        msg = Odometry()
        sec = t0 + k * 0.05
        msg.header.stamp = Time(sec=int(sec), nanosec=int(round((sec % 1) * 1e9)))
        msg.pose.pose.position.x = k * 0.05
        msg.pose.pose.orientation.w = 1.0
        odom.publish(msg)
        time.sleep(0.01)  # within the subscription's queue depth
    assert ros.wait_for(lambda: node._odom.at(t0, 0.01) and node._odom.at(t0 + 3.0, 0.01), timeout=10)
    first = node.graph.g.nodes[node.session.nodes[0]]
    assert first["pose"] == pytest.approx([0.0, 0.0, 0.0], abs=1e-6)  # ... gets its pose when the odometry comes
    for k in range(20):  # frames stamped 0-1.9 s, all more than odom_max_age behind the newest odometry
        camera.publish(rgb_to_msg(view(texture, 5 * SPACING_PX + k * 0.2), t0 + k * 0.1, "camera"))
        time.sleep(0.05)
    assert ros.wait_for(lambda: len(node.session.nodes) >= 5, timeout=10)
    for i in node.session.nodes[1:]:
        data = node.graph.g.nodes[i]
        assert "pose" in data and data["pose"][0] == pytest.approx(data["stamp"] - t0, abs=0.03), data


def test_graph_builder_refuses_a_missing_graph_dir(ros):
    from gnm_nav.common.errors import GnmNavError

    with pytest.raises(GnmNavError, match="graph_dir is empty"):
        graph_builder_node.GraphBuilderNode(context=ros.context)


def test_ctrl_c_saves_the_recorded_session(ros, tmp_path, texture):
    """graph_builder_node as its own process: SIGINT (Ctrl-C) ends the session and saves the graph."""
    import os
    import signal
    import subprocess
    import sys

    out = tmp_path / "recorded"
    proc = subprocess.Popen(
        [sys.executable, "-m", "gnm_nav.nodes.graph_builder_node", "--ros-args", "-p", f"graph_dir:={out}",
         "-p", "image_qos:=reliable", "-p", "record_interval_s:=0.3", "-p", "autosave_period:=0.0",
         "-p", "markers_period:=0.2"],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True)
    markers = ros.collect(MarkerArray, "gnm/graph_markers")

    def recorded() -> int:  # nodes in the builder's latest markers
        return next((len(m.points) for m in (markers[-1].markers if markers else []) if m.ns == "nodes"), 0)

    try:
        camera = ros.publisher(Image, "camera/image_raw")
        ros.wait_matched(camera, timeout=20)
        deadline = time.monotonic() + 20.0
        while recorded() < 3 and time.monotonic() < deadline:  # a busy machine delivers frames late
            _stream(ros, camera, texture, seconds=0.5)
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, output
    graph = TopoGraph.load(out)
    assert len(graph) >= 3 and "session 0:" in output


def test_a_second_ctrl_c_does_not_cut_the_final_save_short(ros, tmp_path):
    """A terminal's Ctrl-C reaches the builder twice (the terminal's and the one launch forwards): the final
    save must hold every node recorded, not end at the last autosave."""
    import os
    import signal
    import subprocess
    import sys

    from sensor_msgs.msg import Image

    from gnm_nav.graph.store import TopoGraph
    from gnm_nav.ros.images import rgb_to_msg

    graph_dir = tmp_path / "g"
    proc = subprocess.Popen([sys.executable, "-m", "gnm_nav.nodes.graph_builder_node", "--ros-args",
                             "-p", f"graph_dir:={graph_dir}", "-p", "record_interval_s:=0.1",
                             "-p", "gnm_model_path:=''", "-p", "autosave_period:=0.0", "-p", "image_qos:=reliable"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ})
    camera = ros.publisher(Image, "camera/image_raw")
    try:
        ros.wait_matched(camera, timeout=20)
        rng = np.random.default_rng(0)
        for _ in range(40):  # 2 s of frames: ~20 nodes, none saved yet (no autosave)
            camera.publish(rgb_to_msg(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8), time.time(), "camera"))
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()
    assert len(TopoGraph.load(graph_dir)) >= 15
