"""The GPU execution path's plumbing, exercised on the CPU (the GPU build of ONNX Runtime cannot run here):
fixed I/O-bound buffers give the plain session's outputs for every batch size (padded to powers of two, one
buffer set per shape, refilled in place), the provider options ask for what the README says (TensorRT fp16
with engine and timing caches, CUDA graphs only where the buffers are fixed), and a failing fast path falls
back to the plain session with a warning."""
from __future__ import annotations

import logging

import numpy as np
import pytest

from gnm_nav.gnm import engine as engine_module
from gnm_nav.gnm.device_runner import FixedBufferRunner, padded_size
from gnm_nav.gnm.engine import CPU, CUDA, TENSORRT, GNMEngine, _provider_chain


@pytest.fixture(scope="module")
def engine(gnm_model_path) -> GNMEngine:
    return GNMEngine(gnm_model_path, providers="cpu")


def _inputs(engine: GNMEngine, n: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    obs = rng.standard_normal(engine.obs_shape, dtype=np.float32)
    return {"obs_img": obs, "goal_img": rng.standard_normal((n, *engine.goal_shape), dtype=np.float32),
            "obs_encoding": engine.encode_observation(obs)}


def test_padded_sizes():
    assert [padded_size(n) for n in (1, 2, 3, 4, 5, 9, 16, 17)] == [1, 2, 4, 4, 8, 16, 16, 32]


def test_fixed_buffers_give_the_plain_sessions_outputs_for_every_batch(engine):
    runner = FixedBufferRunner(engine._goal_session, "goal_img", device="cpu")
    for n, seed in ((1, 0), (3, 1), (4, 2), (7, 3), (3, 4)):  # the second 3 refills the buffers of the first
        feeds = _inputs(engine, n, seed)
        got = runner.run(feeds)
        dist, action = engine._goal_session.run(["dist", "action"], feeds)
        np.testing.assert_allclose(got["dist"], dist, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(got["action"], action, rtol=1e-5, atol=1e-5)
        assert got["dist"].shape == (n, 1)
    assert len(runner._slots) == 3  # shapes 1, 4 and 8: a few buffer sets (CUDA graphs) serve every window
    obs_runner = FixedBufferRunner(engine._obs_session, "obs_img", device="cpu")
    obs = _inputs(engine, 1, 5)["obs_img"]
    np.testing.assert_allclose(obs_runner.run({"obs_img": obs})["obs_encoding"], engine.encode_observation(obs),
                               rtol=1e-5, atol=1e-5)


def test_provider_options(monkeypatch, tmp_path):
    monkeypatch.setattr(engine_module, "_library_loads", lambda *names: True)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    (trt, trt_options), (cuda, cuda_opts), cpu = _provider_chain("tensorrt", [TENSORRT, CUDA, CPU], cuda_graph=True)
    assert (trt, cuda, cpu) == (TENSORRT, CUDA, CPU)
    cache = str(tmp_path / "gnm_nav" / "tensorrt")
    assert trt_options == {"trt_fp16_enable": "True", "trt_engine_cache_enable": "True",
                           "trt_engine_cache_path": cache, "trt_timing_cache_enable": "True",
                           "trt_timing_cache_path": cache}
    assert "enable_cuda_graph" not in cuda_opts  # TensorRT runs the graph: the CUDA EP only takes leftovers
    (cuda, graph_options), _ = _provider_chain("auto", [CUDA, CPU], cuda_graph=True)
    assert graph_options["enable_cuda_graph"] == "1"
    (cuda, eager_options), _ = _provider_chain("auto", [CUDA, CPU])
    assert "enable_cuda_graph" not in eager_options and eager_options["cudnn_conv_algo_search"] == "EXHAUSTIVE"
    assert _provider_chain("cpu", [CUDA, CPU]) == [CPU]
    monkeypatch.setattr(engine_module, "_library_loads", lambda *names: False)  # no NVIDIA driver
    assert _provider_chain("auto", [CUDA, CPU], cuda_graph=True) == [CPU]


def test_a_failing_fast_path_falls_back_to_the_plain_session(gnm_model_path, caplog):
    engine = GNMEngine(gnm_model_path, providers="cpu")

    class Broken:
        def run(self, feeds):
            raise RuntimeError("graph capture failed")

    engine._goal_runner = Broken()
    feeds = _inputs(engine, 2, 7)
    with caplog.at_level(logging.WARNING, logger="gnm_nav.gnm.engine"):
        dist, action = engine.evaluate(feeds["obs_img"], feeds["goal_img"])
    assert dist.shape == (2,) and engine._goal_runner is None
    assert "running eagerly from now on" in caplog.text
