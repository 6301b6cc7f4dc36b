"""Test-session setup: a private ROS_DOMAIN_ID, headless MuJoCo, and a shared rclpy harness."""
from __future__ import annotations

import os
import random

# A private DDS domain for this test run, chosen before rclpy is imported anywhere.
os.environ.setdefault("ROS_DOMAIN_ID", str(random.Random(os.getpid()).randint(1, 100)))
os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")

import pytest  # noqa: E402


@pytest.fixture
def ros():
    """A running rclpy context with an executor thread; nodes added to it spin until the test ends."""
    from ros_harness import RosHarness

    harness = RosHarness()
    try:
        yield harness
    finally:
        harness.close()
