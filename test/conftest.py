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


@pytest.fixture(scope="session")
def gnm_model_path(tmp_path_factory):
    """A default-size GNM with seeded random weights (gnm_nav.onnx_export.random_init_gnm(seed=0)),
    exported once per test session: returns the whole-network .onnx path (parts and card beside it)."""
    from gnm_nav.onnx_export import export_gnm, random_init_gnm

    path = tmp_path_factory.mktemp("gnm_model") / "gnm_random.onnx"
    export_gnm(random_init_gnm(seed=0), path)
    return path
