"""mujoco_sim_node over real DDS: cmd_vel in; odom, ground truth, camera, collision, clock out; reset; NaN drop."""
from __future__ import annotations

import math

import pytest
from geometry_msgs.msg import Twist, TwistStamped
from nav_msgs.msg import Odometry
from rclpy.parameter import Parameter
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import Image
from std_msgs.msg import Bool
from std_srvs.srv import Trigger

from gnm_nav.nodes.mujoco_sim_node import MujocoSimNode


def _node(ros, **params):
    overrides = [Parameter(k, value=v) for k, v in {"world": "box_room", "robot": "turtlebot",
                                                    "real_time_factor": 3.0, "image_width": 64,
                                                    "image_height": 48, **params}.items()]
    return ros.add(MujocoSimNode(context=ros.context, parameter_overrides=overrides))


def test_drives_over_dds(ros):
    node = _node(ros)
    odom = ros.collect(Odometry, "odom")
    truth = ros.collect(Odometry, "sim/ground_truth")
    images = ros.collect(Image, "camera/image_raw")
    clock = ros.collect(Clock, "/clock")
    collisions = ros.collect(Bool, "sim/collision")
    pub = ros.publisher(TwistStamped, "cmd_vel")
    assert ros.wait_for(lambda: images and odom, timeout=15)
    assert (images[-1].width, images[-1].height, images[-1].encoding) == (64, 48, "rgb8")
    start = truth[-1].pose.pose.position.x

    def drive() -> bool:
        msg = TwistStamped()
        msg.twist.linear.x = 0.3
        pub.publish(msg)
        return truth[-1].pose.pose.position.x - start > 0.3

    assert ros.wait_for(drive, timeout=20)
    # odometry (the profile's typical error model, its own message) follows the true motion closely, not exactly
    assert ros.wait_for(lambda: odom[-1].pose.pose.position.x > 0.25, timeout=5)
    assert clock[-1].clock.sec + clock[-1].clock.nanosec * 1e-9 > 1.0
    assert not any(c.data for c in collisions)
    # a NaN command is dropped (the robot stops on cmd_vel timeout), never applied
    bad = TwistStamped()
    bad.twist.linear.x = math.nan
    pub.publish(bad)
    assert ros.wait_for(lambda: node.dropped_cmds >= 1, timeout=5)
    assert ros.wait_for(lambda: abs(odom[-1].twist.twist.linear.x) < 1e-9, timeout=20)  # after any queued commands
    # reset service puts it back at the spawn
    client = ros.probe.create_client(Trigger, "sim/reset")
    assert client.wait_for_service(timeout_sec=5)
    future = client.call_async(Trigger.Request())
    assert ros.wait_for(future.done, timeout=5) and future.result().success
    assert ros.wait_for(lambda: abs(truth[-1].pose.pose.position.x - 1.5) < 0.02, timeout=5)


def test_twist_and_wall_collision(ros):
    _node(ros, enable_stamped_cmd_vel=False, use_world_spawn=False, spawn_pose=[4.3, 1.0, 0.0],
          real_time_factor=5.0)
    collisions = ros.collect(Bool, "sim/collision")
    truth = ros.collect(Odometry, "sim/ground_truth")
    pub = ros.publisher(Twist, "cmd_vel")

    def push() -> bool:
        msg = Twist()
        msg.linear.x = 0.3
        pub.publish(msg)
        return any(c.data for c in collisions)

    assert ros.wait_for(push, timeout=20)
    assert truth[-1].pose.pose.position.x < 4.925 - 0.18 + 0.05  # stopped at the partition wall


@pytest.mark.parametrize("params, match", [
    ({"robot": "hovercraft"}, "unknown robot profile"),
    ({"use_world_spawn": False, "spawn_pose": [5.0, 1.0, 0.0]}, "inside or too close"),
    ({"world": "castle:1"}, "FAMILY:SEED"),
])
def test_bad_parameters_fail_clearly(ros, params, match):
    with pytest.raises(Exception, match=match):
        _node(ros, **params)


