"""Test-session setup: a private ROS_DOMAIN_ID, headless MuJoCo, and a shared rclpy harness."""
from __future__ import annotations

import os
import random
from pathlib import Path

# A private DDS domain for this test run, chosen before rclpy is imported anywhere.
os.environ.setdefault("ROS_DOMAIN_ID", str(random.Random(os.getpid()).randint(1, 100)))
os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")

import pytest  # noqa: E402

# modules that start processes or drive closed loops (their tests are `slow` whatever fixtures they use)
SLOW_MODULES = {"test_ros2_launch", "test_eval_closed_loop", "test_demo", "test_final_zero", "test_launcher_processes",
                "test_ros_spin"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests over DDS (the `ros` fixture) and those of SLOW_MODULES are `slow`: `make test-fast` leaves them out."""
    for item in items:
        module = getattr(item, "module", None)
        if "ros" in getattr(item, "fixturenames", ()) or (module is not None and module.__name__ in SLOW_MODULES):
            item.add_marker(pytest.mark.slow)


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
    """A default-size GNM with seeded random weights (gnm_nav.gnm.export.random_init_gnm(seed=0)),
    exported once per test session: returns the whole-network .onnx path (parts and card beside it)."""
    from gnm_nav.gnm.export import export_gnm, random_init_gnm

    path = tmp_path_factory.mktemp("gnm_model") / "gnm_random.onnx"
    export_gnm(random_init_gnm(seed=0), path)
    return path


@pytest.fixture(scope="session")
def far_gnm_model_path(tmp_path_factory):
    """The random GNM with its distance head shifted by 100 steps: a model that recognises no image (every
    predicted distance far beyond any threshold), to drive a node into its "matches nothing" paths."""
    import torch

    from gnm_nav.gnm.export import export_gnm, random_init_gnm

    model = random_init_gnm(seed=0)
    with torch.no_grad():
        model.dist_predictor[0].bias += 100.0
    path = tmp_path_factory.mktemp("gnm_far") / "gnm_far.onnx"
    export_gnm(model, path)
    return path


@pytest.fixture(scope="session")
def random_ldm(gnm_model_path, tmp_path_factory) -> Path:
    """An untrained LDM head on the random GNM's encoder, with a threshold that allows every command."""
    import torch

    from gnm_nav.gnm.card import load_model_card
    from gnm_nav.ldm.export import ActionGrid, export_head
    from gnm_nav.ldm.model import LdmHead

    torch.manual_seed(0)
    card = load_model_card(gnm_model_path)
    path = tmp_path_factory.mktemp("ldm") / "ldm_random.onnx"
    export_head(LdmHead(card.obs_encoding_size, 8), path, {
        "encoder_sha256": card.sha256["obs"], "encoder_model": gnm_model_path.name,
        "encoding_dim": card.obs_encoding_size, "action_grid": ActionGrid(0.0, 0.3, 4, -1.0, 1.0, 5),
        "threshold": 1e9, "quantile": 1.0})
    return path
