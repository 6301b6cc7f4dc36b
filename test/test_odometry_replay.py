"""Blind teach and repeat (the no-camera baseline): the core follows recorded poses from wherever the robot
starts, and the node drives the simulated robot to the end of a recording over DDS."""
from __future__ import annotations

import math

import numpy as np
import pytest
from geometry_msgs.msg import PoseStamped
from nav_msgs.msg import Odometry
from rclpy.parameter import Parameter
from std_msgs.msg import Bool

from gnm_nav.common.errors import GraphError
from gnm_nav.control.controller import Limits, make_controller
from gnm_nav.control.odometry_replay import OdometryReplay, recorded_path
from gnm_nav.graph.store import TopoGraph
from gnm_nav.nodes.mujoco_sim_node import MujocoSimNode
from gnm_nav.nodes.odometry_replay_node import OdometryReplayNode
from gnm_nav.ros.qos import LATCHED


def _graph(poses: list[list[float] | None]) -> TopoGraph:
    graph = TopoGraph()
    for i, pose in enumerate(poses):
        graph.add_node(np.zeros((8, 8, 3), np.uint8), float(i), pose)
    for i in range(len(poses) - 1):
        graph.add_edge(i, i + 1, 1.0, "temporal")
    return graph


def _drive(replay: OdometryReplay, pose: np.ndarray, steps: int = 600) -> tuple[np.ndarray, int | None]:
    controller = make_controller("smooth", Limits(0.3, 1.0, 0.5, 2.0), 4.0)
    for k in range(steps):
        step = replay.step(tuple(pose))
        if step.arrived:
            return pose, k
        v, w = controller.command(step.carrot, k * 0.1)
        pose = pose + 0.1 * np.array([v * math.cos(pose[2]), v * math.sin(pose[2]), w])
    return pose, None


def test_replay_follows_the_recording_from_where_the_robot_stands():
    # recorded in an odometry frame where the route starts at (2, 1) heading +y, then turns right
    recorded = ([[2.0, 1.0 + 0.25 * i, math.pi / 2] for i in range(9)]
                + [[2.0 + 0.25 * i, 3.0, 0.0] for i in range(1, 9)])
    path = recorded_path(_graph(recorded).g, 0, 16)
    final, arrived_at = _drive(OdometryReplay(path), np.zeros(3))  # this run's odometry starts at zero
    assert arrived_at is not None
    # in this run's frame the route goes 2 m ahead (+x), then 2 m to the right (-y)
    assert final[0] == pytest.approx(2.0, abs=0.25) and final[1] == pytest.approx(-2.0, abs=0.25)


def test_a_start_offset_carries_through_to_the_end():
    """Blind replay has no way to notice that it started turned: the end is off by the start's heading error."""
    recorded = [[0.25 * i, 0.0, 0.0] for i in range(21)]
    final, arrived_at = _drive(OdometryReplay(recorded_path(_graph(recorded).g, 0, 20)), np.zeros(3))
    assert arrived_at is not None and final[0] == pytest.approx(5.0, abs=0.2)
    # the same, but the robot really starts turned 0.1 rad while its odometry starts at 0: it ends ~0.5 m aside
    replay = OdometryReplay(recorded_path(_graph(recorded).g, 0, 20))
    odom_to_truth = 0.1
    truth = np.array([0.0, 0.0, odom_to_truth])
    controller = make_controller("smooth", Limits(0.3, 1.0, 0.5, 2.0), 4.0)
    for k in range(600):
        odom = (truth[0] * math.cos(-odom_to_truth) - truth[1] * math.sin(-odom_to_truth),
                truth[0] * math.sin(-odom_to_truth) + truth[1] * math.cos(-odom_to_truth), truth[2] - odom_to_truth)
        step = replay.step(odom)
        if step.arrived:
            break
        v, w = controller.command(step.carrot, k * 0.1)
        truth = truth + 0.1 * np.array([v * math.cos(truth[2]), v * math.sin(truth[2]), w])
    assert math.hypot(truth[0] - 5.0, truth[1]) == pytest.approx(5.0 * 0.1, abs=0.12)


def test_graphs_without_poses_or_path_are_refused():
    with pytest.raises(GraphError, match="2 of the 3 nodes on the path have no odometry pose"):
        recorded_path(_graph([[0.0, 0.0, 0.0], None, None]).g, 0, 2)
    # a first frame recorded before the first odometry message is left out
    assert recorded_path(_graph([None, [0.0, 0.0, 0.0], [1.0, 0.0, 0.0]]).g, 0, 2).tolist() == \
        [[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]]
    graph = _graph([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    with pytest.raises(GraphError, match="no path from node 1 to node 0"):
        recorded_path(graph.g, 1, 0)
    with pytest.raises(GraphError, match="node 7 is not in the graph"):
        recorded_path(graph.g, 0, 7)
    with pytest.raises(GraphError, match="at least two"):
        OdometryReplay(np.zeros((1, 3)))


def test_node_drives_the_simulated_robot_to_the_end_of_the_recording(ros, tmp_path):
    # a recording 2 m east from box_room's spawn (1.5, 2.5, 0), in the recording's own odometry frame
    graph_dir = tmp_path / "graph"
    _graph([[0.2 * i, 0.0, 0.0] for i in range(11)]).save(graph_dir)
    sim = [Parameter(k, value=v) for k, v in {"world": "box_room", "robot": "turtlebot", "real_time_factor": 3.0,
                                              "image_width": 32, "image_height": 24, "odom_noise": "none"}.items()]
    ros.add(MujocoSimNode(context=ros.context, parameter_overrides=sim))
    truth = ros.collect(Odometry, "sim/ground_truth")
    carrots = ros.collect(PoseStamped, "gnm/subgoal_pose")
    reached: list[Bool] = []
    ros.probe.create_subscription(Bool, "gnm/goal_reached", reached.append, LATCHED)
    params = [Parameter(k, value=v) for k, v in {"graph_dir": str(graph_dir), "robot_profile": "turtlebot",
                                                 "use_sim_time": True}.items()]
    ros.add(OdometryReplayNode(context=ros.context, parameter_overrides=params))
    assert ros.wait_for(lambda: reached and reached[-1].data, timeout=40)
    x = truth[-1].pose.pose.position.x
    assert x == pytest.approx(3.5, abs=0.25) and carrots and carrots[0].header.frame_id == "base_link"
