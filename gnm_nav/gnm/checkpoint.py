"""Safe import of GNM training checkpoints: the published pickled-module format and plain state_dicts.

A pickle is a program, so checkpoints are read with a restricted unpickler: every global the file
names must be on an allow-list. Module, optimizer and scheduler classes come back as inert records
of their pickled state (their code is never imported or run); tensors are rebuilt by torch's own
rebuild helpers; anything else (os.system, builtins.eval, ...) is refused before it can run. The
upstream training package and torchvision are therefore not needed to read a checkpoint.
"""
from __future__ import annotations

import builtins
import codecs
import collections
import pickle
import types
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

try:  # numpy >= 2 moved numpy.core to numpy._core
    from numpy._core import multiarray as _numpy_multiarray
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core import multiarray as _numpy_multiarray  # type: ignore[no-redef]

from gnm_nav.common.errors import CheckpointError
from gnm_nav.gnm.modeling import GNM

# Class names that are GNM network parts under whatever package path a release used.
_NETWORK_CLASS_NAMES = frozenset({
    "GNM", "MobileNetEncoder", "InvertedResidual", "ConvNormActivation", "Conv2dNormActivation",
    "ConvBNActivation", "ConvBNReLU", "GradualWarmupScheduler",
})
# Package prefixes whose classes are torch modules/optimizers/schedulers (recorded, never run).
_RECORDED_PREFIXES = ("torch.nn.modules.", "torch.nn.parallel.", "torch.optim.", "torchvision.")
_SAFE_GLOBALS: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("collections", "defaultdict"): collections.defaultdict,
    ("torch._utils", "_rebuild_tensor"): torch._utils._rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): torch._utils._rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): torch._utils._rebuild_parameter_with_state,
    ("torch", "device"): torch.device,
    ("torch", "Size"): torch.Size,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): codecs.encode,  # how protocol 2 pickles bytes
    ("numpy.core.multiarray", "scalar"): _numpy_multiarray.scalar,  # numpy scalars (e.g. a logged loss)
    ("numpy._core.multiarray", "scalar"): _numpy_multiarray.scalar,
}
_TORCH_DTYPES = {name: value for name, value in vars(torch).items() if isinstance(value, torch.dtype)}
_SAFE_BUILTINS = frozenset({"dict", "list", "tuple", "set", "frozenset", "int", "float", "bool", "str", "bytes",
                            "complex"})
_GNM_ATTRIBUTE_NAMES = {  # upstream attribute name -> GNM constructor argument
    "context_size": "context_size",
    "len_trajectory_pred": "len_traj_pred",
    "len_traj_pred": "len_traj_pred",
    "learn_angle": "learn_angle",
    "obs_encoding_size": "obs_encoding_size",
    "goal_encoding_size": "goal_encoding_size",
}


class InertRecord:
    """Stand-in for a pickled object of a recorded class: holds its state, runs none of its code."""

    source = ""  # "package.module.ClassName" of the class the file named

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args
        self.state: Any = kwargs or None

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def __repr__(self) -> str:
        return f"<record of {self.source}>"


_record_classes: dict[str, type[InertRecord]] = {}


def _record_class(module: str, name: str) -> type[InertRecord]:
    source = f"{module}.{name}"
    if source not in _record_classes:
        _record_classes[source] = type(name, (InertRecord,), {"source": source})
    return _record_classes[source]


def _reconstructor(cls: Any, base: Any, state: Any) -> InertRecord:
    """copyreg._reconstructor (protocol 0/1 objects), limited to recorded classes."""
    if not (isinstance(cls, type) and issubclass(cls, InertRecord)):
        raise CheckpointError(f"checkpoint reconstructs {cls!r}, which is not a recorded class")
    return cls()


def _allowed_global(module: str, name: str) -> Any:
    if (module, name) in _SAFE_GLOBALS:
        return _SAFE_GLOBALS[(module, name)]
    if module in ("builtins", "__builtin__") and name in _SAFE_BUILTINS:
        return getattr(builtins, name)
    if (module, name) == ("copyreg", "_reconstructor"):
        return _reconstructor
    if module == "torch" and name in _TORCH_DTYPES:
        return _TORCH_DTYPES[name]
    if name in _NETWORK_CLASS_NAMES or module.startswith(_RECORDED_PREFIXES):
        return _record_class(module, name)
    return None


class RestrictedUnpickler(pickle._Unpickler):  # the Python unpickler: its opcodes can be overridden
    """Unpickler that resolves only allow-listed globals and sets state only on records (see module docstring)."""

    dispatch = dict(pickle._Unpickler.dispatch)

    def find_class(self, module: str, name: str) -> Any:
        found = _allowed_global(module, name)
        if found is None:
            raise CheckpointError(f"checkpoint refers to '{module}.{name}', which is not allowed in a GNM "
                                  "checkpoint; refusing to load it (a pickle can run code)")
        return found

    def _load_build(self) -> None:
        """BUILD (set an object's state) only on objects the file created, never on a callable: the
        allow-listed functions and classes are shared by the whole process and must stay as they are."""
        target = self.stack[-2]  # type: ignore[attr-defined]  # the Python unpickler's stack (not in the stubs)
        if callable(target):
            raise CheckpointError(f"checkpoint sets attributes of {target!r}, which a GNM checkpoint never does")
        pickle._Unpickler.load_build(self)  # type: ignore[attr-defined]

    dispatch[pickle.BUILD[0]] = _load_build  # type: ignore[assignment]


def _restricted_load(file: Any, **kwargs: Any) -> Any:
    return RestrictedUnpickler(file, **kwargs).load()


# torch.load takes a pickle *module*; this one exposes only the restricted Unpickler.
restricted_pickle = types.ModuleType("gnm_nav_restricted_pickle")
restricted_pickle.Unpickler = RestrictedUnpickler  # type: ignore[attr-defined]
restricted_pickle.load = _restricted_load  # type: ignore[attr-defined]
restricted_pickle.__doc__ = "pickle module for torch.load that resolves only allow-listed globals"


def load_resume_state(path: str | Path, map_location: Any = None) -> dict[str, Any]:
    """One of our own resume checkpoints (a trainer's work dir): loaded with torch's weights-only unpickler,
    which rebuilds tensors, numbers, strings and containers and nothing that could run code. A planted or
    foreign file is refused with one line, never executed."""
    path = Path(path)
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path} is not a resume checkpoint of gnm-nav ({first}); delete it, or start over "
                              "with --restart / without --resume") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{path} is not a resume checkpoint of gnm-nav (it holds a {type(state).__name__})")
    return state


@dataclass
class Checkpoint:
    """A checkpoint read into plain tensors."""

    state_dict: dict[str, torch.Tensor]
    arch_hints: dict[str, Any] = field(default_factory=dict)  # constructor args recorded in a pickled GNM
    kind: str = "state_dict"  # "pickled module" or "state_dict"
    epoch: int | None = None


def read_checkpoint(path: str | Path) -> Checkpoint:
    """Read a checkpoint file (published pickled-module format or a state_dict), safely."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} not found")
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            if any(n.endswith("/constants.pkl") or n == "constants.pkl" for n in archive.namelist()):
                raise CheckpointError(f"{path} is a TorchScript archive, not a training checkpoint; "
                                      "export from the training checkpoint or a state_dict instead")
    try:
        obj = torch.load(path, map_location="cpu", pickle_module=restricted_pickle, weights_only=False)
    except CheckpointError as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - any parse failure of an untrusted file is the file's fault
        raise CheckpointError(f"cannot read checkpoint {path}: {type(exc).__name__}: {exc}") from exc
    return _checkpoint_from_object(obj, path)


def load_state_dict_from_checkpoint(path: str | Path) -> dict[str, torch.Tensor]:
    """The model's tensors from a checkpoint file, keyed as in GNM.state_dict()."""
    return read_checkpoint(path).state_dict


def _checkpoint_from_object(obj: Any, path: Path) -> Checkpoint:
    epoch = None
    if isinstance(obj, Mapping) and not _is_tensor_mapping(obj):
        epoch = obj.get("epoch") if isinstance(obj.get("epoch"), int) else None
        for key in ("model", "state_dict"):
            if key in obj:
                obj = obj[key]
                break
        else:
            raise CheckpointError(f"checkpoint {path} has no 'model' or 'state_dict' entry "
                                  f"(top-level keys: {sorted(map(str, obj))[:10]})")
    if isinstance(obj, InertRecord):
        module = _unwrap_data_parallel(obj)
        state_dict: dict[str, torch.Tensor] = {}
        _collect_module_tensors(module, "", state_dict)
        return Checkpoint(_strip_module_prefix(state_dict), _arch_hints(module), "pickled module", epoch)
    if isinstance(obj, Mapping) and _is_tensor_mapping(obj):
        return Checkpoint(_strip_module_prefix({str(k): v.detach() for k, v in obj.items()}), {}, "state_dict", epoch)
    raise CheckpointError(f"checkpoint {path} holds {type(obj).__name__}, neither a pickled model nor a state_dict")


def _is_tensor_mapping(obj: Mapping) -> bool:
    return len(obj) > 0 and all(isinstance(v, torch.Tensor) for v in obj.values())


def _module_state(record: InertRecord, where: str) -> dict[str, Any]:
    state = record.state
    if not isinstance(state, dict) or "_modules" not in state or "_parameters" not in state:
        raise CheckpointError(f"{record.source} at '{where or '<root>'}' is not a pickled torch module")
    return state


def _unwrap_data_parallel(record: InertRecord) -> InertRecord:
    while record.source.endswith("DataParallel"):
        inner = _module_state(record, "").get("_modules", {}).get("module")
        if not isinstance(inner, InertRecord):
            raise CheckpointError(f"{record.source} wraps no module")
        record = inner
    return record


def _collect_module_tensors(record: InertRecord, prefix: str, out: dict[str, torch.Tensor]) -> None:
    """Rebuild Module.state_dict() from pickled module records: parameters, persistent buffers, children."""
    state = _module_state(record, prefix.rstrip("."))
    non_persistent = state.get("_non_persistent_buffers_set") or set()
    for name, tensor in state["_parameters"].items():
        if tensor is not None:
            out[prefix + name] = tensor.detach()
    for name, tensor in state.get("_buffers", {}).items():
        if tensor is not None and name not in non_persistent:
            out[prefix + name] = tensor.detach()
    for name, child in state["_modules"].items():
        if child is not None:
            if not isinstance(child, InertRecord):
                raise CheckpointError(f"submodule '{prefix}{name}' is {type(child).__name__}, not a module")
            _collect_module_tensors(child, f"{prefix}{name}.", out)


def _arch_hints(record: InertRecord) -> dict[str, Any]:
    state = record.state if isinstance(record.state, dict) else {}
    return {arg: state[attr] for attr, arg in _GNM_ATTRIBUTE_NAMES.items()
            if isinstance(state.get(attr), (int, bool))}


def _strip_module_prefix(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Keys saved from a DataParallel/DDP model start with 'module.'; GNM's don't."""
    if state_dict and all(k.startswith("module.") for k in state_dict):
        return {k[len("module."):]: v for k, v in state_dict.items()}
    return state_dict


def infer_architecture(state_dict: Mapping[str, torch.Tensor], learn_angle: bool | None = None,
                       len_traj_pred: int | None = None) -> dict[str, Any]:
    """GNM constructor arguments read from tensor shapes (the action head's size is len * (4 or 2))."""
    arch: dict[str, Any] = {}
    if "obs_mobilenet.0.0.weight" in state_dict:
        arch["context_size"] = state_dict["obs_mobilenet.0.0.weight"].shape[1] // 3 - 1
    if "compress_observation.0.weight" in state_dict:
        arch["obs_encoding_size"] = state_dict["compress_observation.0.weight"].shape[0]
    if "compress_goal.0.weight" in state_dict:
        arch["goal_encoding_size"] = state_dict["compress_goal.0.weight"].shape[0]
    if "action_predictor.0.weight" in state_dict:
        outputs = state_dict["action_predictor.0.weight"].shape[0]
        if learn_angle is None:
            learn_angle = outputs % 4 == 0 if len_traj_pred is None else outputs == 4 * len_traj_pred
        arch["learn_angle"] = learn_angle
        arch["len_traj_pred"] = outputs // (4 if learn_angle else 2)
    return arch


def load_gnm(source: str | Path | Mapping[str, torch.Tensor], **arch: Any) -> GNM:
    """A GNM in eval mode from a checkpoint file or state_dict, with strict key and shape matching.

    Architecture arguments not given are taken from the pickled model's attributes, else inferred
    from tensor shapes, else GNM's defaults.
    """
    if isinstance(source, Mapping):
        checkpoint = Checkpoint(_strip_module_prefix(dict(source)))
        where = "state_dict"
    else:
        checkpoint = read_checkpoint(source)
        where = str(source)
    state_dict = checkpoint.state_dict
    hinted = {**checkpoint.arch_hints, **arch}
    config = {**infer_architecture(state_dict, hinted.get("learn_angle"), hinted.get("len_traj_pred")), **hinted}
    try:
        model = GNM(**config)
    except TypeError as exc:
        raise CheckpointError(f"invalid GNM architecture arguments {config}: {exc}") from exc
    _check_keys(model.state_dict(), state_dict, where, config)
    model.load_state_dict(state_dict, strict=True)
    return model.eval()


def _check_keys(expected: Mapping[str, torch.Tensor], found: Mapping[str, torch.Tensor], where: str,
                config: Mapping[str, Any]) -> None:
    missing = [k for k in expected if k not in found]
    unexpected = [k for k in found if k not in expected]
    mismatched = [f"{k}: checkpoint {list(found[k].shape)} vs model {list(v.shape)}"
                  for k, v in expected.items() if k in found and tuple(found[k].shape) != tuple(v.shape)]
    if not (missing or unexpected or mismatched):
        return
    parts = []
    for label, items in (("missing keys", missing), ("unexpected keys", unexpected), ("shape mismatches", mismatched)):
        if items:
            shown = ", ".join(items[:8]) + (f", ... ({len(items) - 8} more)" if len(items) > 8 else "")
            parts.append(f"{len(items)} {label}: {shown}")
    raise CheckpointError(f"{where} does not match GNM({', '.join(f'{k}={v}' for k, v in config.items())}): "
                          + "; ".join(parts))
