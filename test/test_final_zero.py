"""On SIGINT or SIGTERM the policy and the safety filter publish a zero before their process exits: the base's
last command is never the motion that was under way (a node killed outright cannot, hence the base's own
cmd_vel timeout)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from geometry_msgs.msg import TwistStamped
from sensor_msgs.msg import Image

from gnm_nav.ros.images import rgb_to_msg


def _process(module: str, params: dict) -> subprocess.Popen:
    args = [sys.executable, "-m", module, "--ros-args"]
    for key, value in params.items():
        args += ["-p", f"{key}:={value}"]
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ})


def _feed_until(ros, publishers: dict, until, timeout: float = 40.0) -> bool:
    frames = [np.random.default_rng(i).integers(0, 256, (48, 64, 3), dtype=np.uint8) for i in range(6)]
    deadline, i = time.monotonic() + timeout, 0
    while time.monotonic() < deadline and not until():
        now = time.time()
        for topic, pub in publishers.items():
            if topic == "cmd_vel_nav":
                msg = TwistStamped()
                msg.twist.linear.x = 0.25
                pub.publish(msg)
            else:
                pub.publish(rgb_to_msg(frames[0 if topic == "gnm/subgoal" else i % len(frames)], now, "camera"))
        i += 1
        time.sleep(0.05)
    return until()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_the_filter_leaves_the_base_a_zero(ros, gnm_model_path, random_ldm, sig):
    out = ros.collect(TwistStamped, "cmd_vel")
    pubs = {"camera/image_raw": ros.publisher(Image, "camera/image_raw"),
            "cmd_vel_nav": ros.publisher(TwistStamped, "cmd_vel_nav")}
    proc = _process("gnm_nav.nodes.safety_filter_node", {
        "ldm_model_path": random_ldm, "gnm_model_path": gnm_model_path, "providers": "cpu",
        "image_qos": "reliable"})
    try:
        moving = lambda: any(m.twist.linear.x > 0.1 for m in out)  # noqa: E731
        assert _feed_until(ros, pubs, moving), "the filter never passed the command"
        proc.send_signal(sig)
        assert proc.wait(timeout=20) == 0
    finally:
        proc.kill()
    time.sleep(0.3)
    assert (out[-1].twist.linear.x, out[-1].twist.angular.z) == (0.0, 0.0)


def test_the_policy_leaves_a_zero(ros, gnm_model_path):
    out = ros.collect(TwistStamped, "cmd_vel_nav")
    pubs = {"camera/image_raw": ros.publisher(Image, "camera/image_raw"),
            "gnm/subgoal": ros.publisher(Image, "gnm/subgoal")}
    proc = _process("gnm_nav.nodes.policy_node", {
        "gnm_model_path": gnm_model_path, "providers": "cpu", "image_qos": "reliable", "max_v": 0.3, "max_w": 0.5})
    try:
        moving = lambda: any((m.twist.linear.x, m.twist.angular.z) != (0.0, 0.0) for m in out[-3:])  # noqa: E731
        assert _feed_until(ros, pubs, moving), "the policy never commanded motion"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
    finally:
        proc.kill()
    time.sleep(0.3)
    assert (out[-1].twist.linear.x, out[-1].twist.angular.z) == (0.0, 0.0)
