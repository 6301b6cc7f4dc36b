"""GNM inference on ONNX Runtime, with the observation branch computed once per observation.

evaluate(obs, goals) runs OUT.obs.onnx on the single observation and OUT.goal.onnx on all N goals
in one batch (the goal graph broadcasts the observation inside), so scoring N candidate nodes
costs one observation branch instead of N. OUT.onnx (the whole network) serves pairwise batches.
"""
from __future__ import annotations

import ctypes
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from gnm_nav.common.errors import GnmNavError, ModelFileError
from gnm_nav.common.paths import resolve_model_path
from gnm_nav.gnm.card import ModelCard, load_model_card

if TYPE_CHECKING:  # onnxruntime is heavy: imported where a session is opened
    import onnxruntime as ort

    from gnm_nav.gnm.device_runner import FixedBufferRunner

LOG = logging.getLogger(__name__)

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
TENSORRT = "TensorrtExecutionProvider"
PROVIDER_CHOICES = ("auto", "tensorrt", "cuda", "cpu")
EVALUATE_MANY_CHUNK = 64  # rows per whole-network call in evaluate_many (bounds memory)


class NonFiniteOutputError(GnmNavError):
    """The network produced NaN/Inf: the caller must not act on it (command zero instead)."""


def default_thread_count() -> int:
    """Half the CPUs, 1..4: small-batch CNN inference scales poorly past 4 threads, and the
    other half is left to the rest of the robot's nodes (oversubscribed threads are far slower)."""
    return max(1, min(4, (os.cpu_count() or 2) // 2))


def _library_loads(*names: str) -> bool:
    for name in names:
        try:
            ctypes.CDLL(name)
            return True
        except OSError:
            continue
    return False


def gpu_cache_dir() -> Path:
    """Where TensorRT keeps the engines and timing caches it builds (once per model and GPU)."""
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "gnm_nav" / "tensorrt"


def tensorrt_options(cache: Path) -> dict[str, str]:
    """fp16 engines, built once: the engine and the kernel timings are cached under `cache`."""
    return {"trt_fp16_enable": "True", "trt_engine_cache_enable": "True", "trt_engine_cache_path": str(cache),
            "trt_timing_cache_enable": "True", "trt_timing_cache_path": str(cache)}


def cuda_options(cuda_graph: bool) -> dict[str, str]:
    """The CUDA EP: the best convolution algorithms searched once at load; with cuda_graph, runs are captured
    as CUDA graphs (the session must then run through fixed I/O-bound buffers: gnm_nav.gnm.device_runner)."""
    options = {"cudnn_conv_algo_search": "EXHAUSTIVE", "do_copy_in_default_stream": "1"}
    if cuda_graph:
        options["enable_cuda_graph"] = "1"
    return options


def _provider_chain(request: str, available: Sequence[str],
                    cuda_graph: bool = False) -> list[str | tuple[str, dict[str, str]]]:
    """The providers to ask ONNX Runtime for. GPU providers are only tried when the NVIDIA driver
    (and, for TensorRT, libnvinfer) can be loaded: onnxruntime-gpu lists them everywhere and logs
    errors when they fail to start. 'auto' takes CUDA when usable, else CPU, quietly; TensorRT
    (slow first engine build) only when asked for."""
    if request not in PROVIDER_CHOICES:
        raise ValueError(f"providers must be one of {PROVIDER_CHOICES}, got {request!r}")
    if request == "cpu":
        return [CPU]
    gpu_driver = CUDA in available and _library_loads("libcuda.so.1", "libcuda.so")
    if not gpu_driver:
        if request != "auto":
            LOG.warning("providers=%s requested, but CUDA is not usable here (no NVIDIA driver or no CUDA "
                        "provider); running on CPU", request)
        return [CPU]
    chain: list[str | tuple[str, dict[str, str]]] = []
    if request == "tensorrt":
        if TENSORRT in available and _library_loads("libnvinfer.so.10", "libnvinfer.so.8", "libnvinfer.so"):
            chain.append((TENSORRT, tensorrt_options(gpu_cache_dir())))
        else:
            LOG.warning("providers=tensorrt requested, but TensorRT (libnvinfer) is not usable here; using CUDA")
    return chain + [(CUDA, cuda_options(cuda_graph and not chain)), CPU]


def _session_options(threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # Busy-waiting worker threads cut latency only on idle cores; on a robot they steal CPU from the other nodes.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3  # errors only: provider fallbacks are reported by this module instead
    return options


class GNMEngine:
    """A GNM model (OUT.onnx + parts + card) ready to run. Arrays are float32 NCHW, preprocessed
    as the card says (gnm_nav.gnm.preprocessing.to_model_input)."""

    def __init__(self, model_path: str | Path, providers: str = "auto", threads: int | None = None):
        import onnxruntime as ort

        self.model_path = resolve_model_path(model_path)
        if not self.model_path.is_file():
            raise ModelFileError(f"model file {self.model_path} not found")
        self.card: ModelCard = load_model_card(self.model_path)
        if self.card.architecture != "gnm":
            raise ModelFileError(f"{self.model_path} is a '{self.card.architecture}' model, not a GNM")
        if threads is not None and threads < 1:
            raise ValueError(f"threads must be >= 1 or None, got {threads}")
        self.threads = threads if threads is not None else default_thread_count()
        self._chain = _provider_chain(providers, ort.get_available_providers())
        self._obs_session = self.open_session("obs")
        self._goal_session = self.open_session("goal")
        self._whole_session: ort.InferenceSession | None = None  # opened on first evaluate_many
        self.providers: list[str] = list(self._goal_session.get_providers())
        wanted = {p if isinstance(p, str) else p[0] for p in self._chain} - {CPU}
        if wanted and not wanted & set(self.providers):
            LOG.warning("requested %s but ONNX Runtime could not start it; running on %s",
                        "/".join(sorted(wanted)), ", ".join(self.providers))
        LOG.info("GNM model %s on %s (%d threads)", self.model_path.name, ", ".join(self.providers), self.threads)
        c, (w, h) = self.card.obs_channels, self.card.image_size
        self.obs_shape = (1, c, h, w)
        self.goal_shape = (3, h, w)
        self._check_card_matches_model()
        # On the CUDA EP, one observation and the goal batch run as captured CUDA graphs through fixed buffers
        self._obs_runner: FixedBufferRunner | None = None
        self._goal_runner: FixedBufferRunner | None = None
        if self.providers[0] == CUDA:
            self._open_graph_runners(providers)

    def _open_graph_runners(self, providers: str) -> None:
        """Sessions that capture CUDA graphs, and their fixed-buffer runners; without them (a model part the
        CUDA EP cannot take whole), the plain sessions serve, as on any other provider."""
        import onnxruntime as ort

        from gnm_nav.gnm.device_runner import FixedBufferRunner

        chain = _provider_chain(providers, ort.get_available_providers(), cuda_graph=True)
        try:
            sessions = {part: ort.InferenceSession(str(self.card.path_of(part)), _session_options(self.threads),
                                                   providers=chain) for part in ("obs", "goal")}
        except Exception as exc:  # noqa: BLE001 - ORT refuses graph capture in several ways
            LOG.warning("CUDA graphs not used for %s (%s): running eagerly", self.model_path.name, exc)
            return
        self._obs_runner = FixedBufferRunner(sessions["obs"], "obs_img", graph_ids=True)
        self._goal_runner = FixedBufferRunner(sessions["goal"], "goal_img", graph_ids=True)

    def _run(self, runner_name: str, session, names: list[str], feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Through the fixed-buffer runner where there is one (its first failure turns it off, with a
        warning), else the plain session."""
        runner = getattr(self, runner_name)
        if runner is not None:
            try:
                outputs = runner.run(feeds)
                return [outputs[name] for name in names]
            except Exception as exc:  # noqa: BLE001
                LOG.warning("fixed-buffer run failed (%s): running eagerly from now on", exc)
                setattr(self, runner_name, None)
        return session.run(names, feeds)

    def _check_card_matches_model(self) -> None:
        """The card must describe the file: a context size or image size that disagrees with the network's
        inputs would feed it garbage (or fail on the first frame with an ONNX Runtime traceback)."""
        for session, part in ((self._obs_session, "obs"), (self._goal_session, "goal")):
            for arg in session.get_inputs():
                expected = {"obs_img": self.obs_shape[1:], "goal_img": self.goal_shape}.get(arg.name)
                found = tuple(arg.shape[1:])
                if expected is not None and all(isinstance(d, int) for d in found) and found != expected:
                    raise ModelFileError(
                        f"{self.card.path_of(part)}: input {arg.name} is {list(found)} but the model card "
                        f"({self.model_path.with_suffix('.json').name}) says {list(expected)} (context_size "
                        f"{self.card.context_size}, image_size {list(self.card.image_size)}): card and model differ")

    def open_session(self, part: str):
        """A new ONNX Runtime session for a model part ("whole", "obs", "goal") with this engine's settings."""
        import onnxruntime as ort

        path = self.card.path_of(part)
        try:
            return ort.InferenceSession(str(path), _session_options(self.threads), providers=self._chain)
        except Exception as exc:  # noqa: BLE001 - ORT raises several types for an unreadable model
            raise ModelFileError(f"cannot load model file {path}: {exc}") from exc

    def encode_observation(self, obs_img: np.ndarray) -> np.ndarray:
        """obs_img [B, 3*(context+1), H, W] -> obs encoding [B, obs_encoding_size] (the frozen embedding)."""
        obs_img = _as_input("obs_img", obs_img, self.obs_shape[1:])
        if len(obs_img) == 1:  # the robot's one observation: the fixed-shape path on a GPU
            (encoding,) = self._run("_obs_runner", self._obs_session, ["obs_encoding"], {"obs_img": obs_img})
        else:
            (encoding,) = self._obs_session.run(["obs_encoding"], {"obs_img": obs_img})
        _check_finite("obs_encoding", encoding)
        return encoding

    def evaluate(self, obs_img: np.ndarray, goal_imgs: np.ndarray,
                 obs_encoding: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """One observation [1, C, H, W] against N goals [N, 3, H, W] -> (dist [N], actions [N, len, 4]).

        Pass obs_encoding (from encode_observation) to reuse an observation encoding already computed.
        """
        obs_img = _as_input("obs_img", obs_img, self.obs_shape[1:], batch=1)
        goal_imgs = _as_input("goal_imgs", goal_imgs, self.goal_shape)
        if obs_encoding is None:
            obs_encoding = self.encode_observation(obs_img)
        obs_encoding = _as_input("obs_encoding", obs_encoding, (self.card.obs_encoding_size,), batch=1)
        dist, action = self._run("_goal_runner", self._goal_session, ["dist", "action"],
                                 {"obs_img": obs_img, "goal_img": goal_imgs, "obs_encoding": obs_encoding})
        _check_finite("dist", dist)
        _check_finite("action", action)
        return dist[:, 0], action

    def evaluate_many(self, obs_imgs: np.ndarray, goal_imgs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pairwise: observation row i with goal row i -> (dist [M], actions [M, len, 4])."""
        obs_imgs = _as_input("obs_imgs", obs_imgs, self.obs_shape[1:])
        goal_imgs = _as_input("goal_imgs", goal_imgs, self.goal_shape)
        if len(obs_imgs) != len(goal_imgs):
            raise ValueError(f"evaluate_many needs as many observations as goals, got {len(obs_imgs)} "
                             f"and {len(goal_imgs)}")
        if self._whole_session is None:
            self._whole_session = self.open_session("whole")
        session = self._whole_session
        dists, actions = [], []
        for start in range(0, len(obs_imgs), EVALUATE_MANY_CHUNK):
            end = start + EVALUATE_MANY_CHUNK
            dist, action = session.run(["dist", "action"], {"obs_img": obs_imgs[start:end],
                                                            "goal_img": goal_imgs[start:end]})
            dists.append(dist[:, 0])
            actions.append(action)
        dist, action = np.concatenate(dists), np.concatenate(actions)
        _check_finite("dist", dist)
        _check_finite("action", action)
        return dist, action


def _as_input(name: str, array: np.ndarray, row_shape: tuple[int, ...], batch: int | None = None) -> np.ndarray:
    array = np.ascontiguousarray(array, dtype=np.float32)
    if array.ndim != len(row_shape) + 1 or tuple(array.shape[1:]) != tuple(row_shape) or len(array) == 0 \
            or (batch is not None and len(array) != batch):
        expected = f"[{batch if batch is not None else 'N>=1'}, {', '.join(map(str, row_shape))}]"
        raise ValueError(f"{name} must have shape {expected}, got {list(array.shape)}")
    return array


def _check_finite(name: str, array: np.ndarray) -> None:
    if not np.isfinite(array).all():
        bad = int(array.size - np.isfinite(array).sum())
        raise NonFiniteOutputError(f"GNM output '{name}' has {bad} NaN/Inf values (non-finite input or "
                                   "broken weights); do not act on it")
