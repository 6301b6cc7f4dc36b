"""Checkpoint import: the published pickled-module format (stand-in upstream classes), state_dicts,
refusal of pickles that name anything off the allow-list, strict key matching, architecture inference."""
from __future__ import annotations

import builtins
import importlib
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from test_model_gnm import one_torch_thread  # noqa: F401 - autouse fixture

from gnm_nav.common.errors import CheckpointError
from gnm_nav.gnm.checkpoint import load_gnm, load_state_dict_from_checkpoint, read_checkpoint
from gnm_nav.gnm.mobilenet import ConvBNReLU6, InvertedResidual
from gnm_nav.gnm.modeling import GNM

# Stand-ins for the classes the published checkpoint names, at the upstream module paths.
STAND_IN_PACKAGE = {
    "vint_train/__init__.py": "",
    "vint_train/models/__init__.py": "",
    "vint_train/models/gnm/__init__.py": "",
    "vint_train/models/gnm/gnm.py": "import torch\n\nclass GNM(torch.nn.Module):\n    pass\n",
    "torchvision/__init__.py": "",
    "torchvision/ops/__init__.py": "",
    "torchvision/ops/misc.py": "import torch\n\nclass Conv2dNormActivation(torch.nn.Sequential):\n    pass\n",
    "torchvision/models/__init__.py": "",
    "torchvision/models/mobilenetv2.py": "import torch\n\nclass InvertedResidual(torch.nn.Module):\n    pass\n",
}
STAND_IN_ROOTS = ("vint_train", "torchvision")


def _save_upstream_format(model: GNM, path: Path, package_dir: Path, data_parallel: bool) -> None:
    """torch.save the way the upstream trainer does, with the model's classes re-homed under the
    upstream module paths; the stand-in package is importable only while saving."""
    for rel, text in STAND_IN_PACKAGE.items():
        (package_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        (package_dir / rel).write_text(text)
    sys.path.insert(0, str(package_dir))
    original_classes = {m: type(m) for m in model.modules()}
    try:
        importlib.invalidate_caches()
        upstream_gnm = importlib.import_module("vint_train.models.gnm.gnm").GNM
        conv_norm = importlib.import_module("torchvision.ops.misc").Conv2dNormActivation
        inverted = importlib.import_module("torchvision.models.mobilenetv2").InvertedResidual
        for module in model.modules():
            if isinstance(module, ConvBNReLU6):
                module.__class__ = conv_norm
            elif isinstance(module, InvertedResidual):
                module.__class__ = inverted
        model.__class__ = upstream_gnm
        model.len_trajectory_pred = model.len_traj_pred  # the upstream attribute name
        optimizer = torch.optim.Adam(model.parameters(), lr=7e-4, betas=(0.9, 0.98))
        for p in model.parameters():
            p.grad = torch.zeros_like(p)
        optimizer.step()  # gives the optimizer per-parameter state tensors
        pickled = torch.nn.DataParallel(model) if data_parallel else model
        torch.save({"epoch": 7, "model": pickled, "optimizer": optimizer,
                    "avg_total_test_loss": np.float64(0.5),
                    "scheduler": torch.optim.lr_scheduler.StepLR(optimizer, step_size=10)}, path)
    finally:
        for module, cls in original_classes.items():
            module.__class__ = cls
        del model.len_trajectory_pred
        sys.path.remove(str(package_dir))
        for name in [n for n in sys.modules if n.split(".")[0] in STAND_IN_ROOTS]:
            del sys.modules[name]


@pytest.fixture(scope="module")
def source_model() -> GNM:
    torch.manual_seed(3)
    model = GNM().eval()
    with torch.no_grad():  # non-trivial BatchNorm statistics, so buffers are checked too
        for name, buffer in model.named_buffers():
            if name.endswith("running_mean") or name.endswith("running_var"):
                buffer.uniform_(0.5, 1.5)
    return model


@pytest.fixture(scope="module", params=[False, True], ids=["plain", "data_parallel"])
def upstream_checkpoint(request, source_model, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("upstream")
    path = folder / "gnm.pth"
    _save_upstream_format(source_model, path, folder / "pkg", data_parallel=request.param)
    return path


def _assert_same_tensors(actual: dict[str, torch.Tensor], expected: dict[str, torch.Tensor]) -> None:
    assert list(actual) == list(expected)
    for key, tensor in expected.items():
        assert torch.equal(actual[key], tensor), key


def test_upstream_checkpoint_loads_without_upstream_packages(upstream_checkpoint, source_model):
    assert importlib.util.find_spec("vint_train") is None
    checkpoint = read_checkpoint(upstream_checkpoint)
    assert checkpoint.kind == "pickled module" and checkpoint.epoch == 7
    assert checkpoint.arch_hints["len_traj_pred"] == 5
    _assert_same_tensors(checkpoint.state_dict, source_model.state_dict())
    assert not [n for n in sys.modules if n.split(".")[0] in STAND_IN_ROOTS]


def test_loaded_model_computes_like_the_source(upstream_checkpoint, source_model):
    model = load_gnm(upstream_checkpoint)
    obs, goal = torch.randn(2, 18, 64, 85), torch.randn(2, 3, 64, 85)
    with torch.no_grad():
        for got, want in zip(model(obs, goal), source_model(obs, goal)):
            torch.testing.assert_close(got, want)


@pytest.mark.parametrize("layout", ["plain", "module_prefix", "under_state_dict", "under_model"])
def test_state_dict_files_load(layout, tmp_path):
    torch.manual_seed(1)
    model = GNM(context_size=2, obs_encoding_size=64, goal_encoding_size=64)
    state = model.state_dict()
    payload = {
        "plain": state,
        "module_prefix": {f"module.{k}": v for k, v in state.items()},
        "under_state_dict": {"state_dict": state, "epoch": 3},
        "under_model": {"model": state},
    }[layout]
    torch.save(payload, tmp_path / "sd.pth")
    _assert_same_tensors(load_state_dict_from_checkpoint(tmp_path / "sd.pth"), state)
    assert load_gnm(tmp_path / "sd.pth").arch_config() == model.arch_config()


class _Exploit:
    """Pickles as a call of `func(*args)`: what a malicious checkpoint does on an unsafe load."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


@pytest.mark.parametrize("container", ["torch_zip", "raw_pickle"])
@pytest.mark.parametrize("attack", ["os.system", "builtins.eval", "subprocess.check_call"])
def test_pickle_naming_other_globals_is_refused_unexecuted(attack, container, tmp_path):
    marker = tmp_path / "pwned"
    exploit = {
        "os.system": _Exploit(os.system, f"touch {marker}"),
        "builtins.eval": _Exploit(builtins.eval, f"open({str(marker)!r}, 'w').close()"),
        "subprocess.check_call": _Exploit(subprocess.check_call, ["touch", str(marker)]),
    }[attack]
    path = tmp_path / "evil.pth"
    payload = {"epoch": 1, "model": exploit}
    if container == "torch_zip":
        torch.save(payload, path)
    else:
        path.write_bytes(pickle.dumps(payload, protocol=2))
    with pytest.raises(CheckpointError) as info:
        read_checkpoint(path)
    function_name = attack.split(".")[-1]  # the module part is wherever pickle found the function
    assert f".{function_name}'" in str(info.value) and "not allowed" in str(info.value)
    assert not marker.exists()


def test_strict_mismatch_lists_missing_unexpected_and_misshapen_keys():
    state = GNM().state_dict()
    del state["dist_predictor.0.bias"]
    state["extra_head.weight"] = torch.zeros(3)
    state["linear_layers.2.bias"] = torch.zeros(7)
    with pytest.raises(CheckpointError) as info:
        load_gnm(state)
    message = str(info.value)
    assert "1 missing keys: dist_predictor.0.bias" in message
    assert "1 unexpected keys: extra_head.weight" in message
    assert "linear_layers.2.bias: checkpoint [7] vs model [32]" in message


def test_architecture_is_inferred_from_shapes():
    config = {"context_size": 3, "len_traj_pred": 8, "learn_angle": True, "obs_encoding_size": 128,
              "goal_encoding_size": 64}
    model = load_gnm(GNM(**config).state_dict())
    assert model.arch_config() == config
    no_angle = load_gnm(GNM(len_traj_pred=5, learn_angle=False).state_dict(), len_traj_pred=5)
    assert no_angle.arch_config()["learn_angle"] is False


def test_unreadable_files_give_checkpoint_errors(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        read_checkpoint(tmp_path / "missing.pth")
    (tmp_path / "junk.pth").write_bytes(b"\x00not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot read checkpoint"):
        read_checkpoint(tmp_path / "junk.pth")
    torch.save({"weights": [1, 2, 3]}, tmp_path / "other.pth")
    with pytest.raises(CheckpointError, match="no 'model' or 'state_dict'"):
        read_checkpoint(tmp_path / "other.pth")


def test_pickle_rewriting_an_allowed_function_is_refused(tmp_path):
    defaults = torch._utils._rebuild_tensor_v2.__defaults__
    # GLOBAL _rebuild_tensor_v2; state (None, {"__defaults__": ()}); BUILD -> setattr on the function.
    program = b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\nN}V__defaults__\n)s\x86b."
    (tmp_path / "rewrite.pth").write_bytes(program)
    with pytest.raises(CheckpointError, match="sets attributes of"):
        read_checkpoint(tmp_path / "rewrite.pth")
    assert torch._utils._rebuild_tensor_v2.__defaults__ == defaults


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit is deprecated, but old files exist
def test_torchscript_archive_is_refused(tmp_path):
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), tmp_path / "scripted.pt")
    with pytest.raises(CheckpointError, match="TorchScript archive"):
        read_checkpoint(tmp_path / "scripted.pt")


def test_resume_checkpoints_load_weights_only(tmp_path):
    """Both trainers resume through load_resume_state: a planted pickle in a work dir is refused, never run."""
    import os

    import torch

    from gnm_nav.common.errors import CheckpointError
    from gnm_nav.gnm.checkpoint import load_resume_state

    class Planted:
        def __reduce__(self):
            return os.system, (f"touch {tmp_path / 'ran'}",)

    torch.save({"stage": "density", "head": Planted()}, tmp_path / "planted.pt")
    with pytest.raises(CheckpointError, match="planted.pt is not a resume checkpoint of gnm-nav"):
        load_resume_state(tmp_path / "planted.pt")
    assert not (tmp_path / "ran").exists()
    torch.save([1, 2], tmp_path / "list.pt")
    with pytest.raises(CheckpointError, match="holds a list"):
        load_resume_state(tmp_path / "list.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a zip")
    with pytest.raises(CheckpointError, match="junk.pt is not a resume checkpoint"):
        load_resume_state(tmp_path / "junk.pt")
    torch.save({"epoch": 3, "model": {"w": torch.ones(2)}}, tmp_path / "ok.pt")
    assert load_resume_state(tmp_path / "ok.pt")["epoch"] == 3
