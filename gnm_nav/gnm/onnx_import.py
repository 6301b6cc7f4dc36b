"""A trainable GNM rebuilt from one of our ONNX exports, so a shipped model can be trained further.

The export folds every BatchNorm into the conv before it (conv weight and a bias). Unfolding puts
the folded weight back in the conv and makes its BatchNorm pass the bias through (unit scale, zero
mean), which reproduces the exported network exactly in eval mode. Training, though, normalises by
batch statistics; recentre_batchnorm() then moves each BatchNorm onto the statistics of real data
without changing what it computes in eval mode, so training starts from the same function.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from gnm_nav.common.errors import ModelFileError
from gnm_nav.gnm.card import load_model_card
from gnm_nav.gnm.modeling import GNM


def _running_stats(bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """A BatchNorm's running mean and variance (the GNM's all track them)."""
    assert bn.running_mean is not None and bn.running_var is not None
    return bn.running_mean, bn.running_var


def _conv_bn_pairs(features: nn.Module) -> list[tuple[nn.Conv2d, nn.BatchNorm2d]]:
    """Every conv of a MobileNetV2 stack with the BatchNorm right after it, in forward order."""
    modules = list(features.modules())
    pairs = []
    for module, after in zip(modules, modules[1:]):
        if isinstance(module, nn.Conv2d) and isinstance(after, nn.BatchNorm2d):
            pairs.append((module, after))
    return pairs


def gnm_from_onnx(onnx_path: str | Path) -> GNM:
    """The GNM whose eval-mode outputs equal the ONNX file's (the whole network, with its card beside it)."""
    import onnx
    from onnx import numpy_helper

    onnx_path = Path(onnx_path)
    card = load_model_card(onnx_path)
    if card.architecture != "gnm":
        raise ModelFileError(f"{onnx_path} is a '{card.architecture}' model, not a GNM")
    model = GNM(context_size=card.context_size, len_traj_pred=card.len_traj_pred, learn_angle=card.learn_angle,
                obs_encoding_size=card.obs_encoding_size, goal_encoding_size=card.goal_encoding_size)
    try:
        graph = onnx.load(str(card.path_of("whole"))).graph
    except Exception as exc:  # noqa: BLE001 - onnx raises several types for an unreadable file
        raise ModelFileError(f"cannot read {onnx_path}: {exc}") from exc
    weights = {i.name: torch.from_numpy(numpy_helper.to_array(i).copy()) for i in graph.initializer}
    for n in graph.node:  # equal tensors are merged and reached through Identity (or Constant) nodes
        if n.op_type == "Identity" and n.input[0] in weights:
            weights[n.output[0]] = weights[n.input[0]]
        elif n.op_type == "Constant":
            value = next((a for a in n.attribute if a.name == "value"), None)
            if value is not None:
                weights[n.output[0]] = torch.from_numpy(numpy_helper.to_array(value.t).copy())
    # Matched by position in the graph, not by name: the exporter renames folded tensors and merges equal ones.
    convs = [n for n in graph.node if n.op_type == "Conv"]
    gemms = [n for n in graph.node if n.op_type == "Gemm"]
    norms = [n for n in graph.node if n.op_type == "BatchNormalization"]
    stem_conv, stem_bn = list(model.goal_mobilenet[0].children())[:2]
    assert isinstance(stem_conv, nn.Conv2d) and isinstance(stem_bn, nn.BatchNorm2d)
    # The goal stem runs as conv(obs) + conv(goal), then its own BatchNorm, the only one not folded.
    fused = _conv_bn_pairs(model.obs_mobilenet) + [(stem_conv, None)] + _conv_bn_pairs(model.goal_mobilenet[1:])
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if (len(convs), len(gemms), len(norms)) != (len(fused) + 1, len(linears), 1):
        raise ModelFileError(f"{onnx_path}: {len(convs)} convolutions, {len(gemms)} dense layers, {len(norms)} "
                             f"BatchNorms; a GNM export has {len(fused) + 1}, {len(linears)}, 1")

    def stored(name: str) -> torch.Tensor:
        if name not in weights:
            raise ModelFileError(f"{onnx_path}: weight {name} is computed in the graph, not stored: not our GNM export")
        return weights[name]

    def put(target: torch.Tensor, value: torch.Tensor, node) -> None:
        if tuple(value.shape) != tuple(target.shape):
            raise ModelFileError(f"{onnx_path}: {node.op_type} {node.name} has a {tuple(value.shape)} tensor where "
                                 f"the GNM has {tuple(target.shape)}")
        target.copy_(value)

    with torch.no_grad():
        nodes = iter(convs)
        for conv, bn in fused:
            node = next(nodes)
            weight = stored(node.input[1])
            if bn is None:  # the stem's two halves, weight split by input channel
                weight = torch.cat([weight, stored(next(nodes).input[1])], dim=1)
            put(conv.weight, weight, node)
            if bn is not None:
                bn.weight.fill_(1.0)
                put(bn.bias, stored(node.input[2]), node)
                running_mean, running_var = _running_stats(bn)
                running_mean.zero_()
                running_var.fill_(1.0 - bn.eps)
        for linear, node in zip(linears, gemms):
            transposed = any(a.name == "transB" and a.i == 1 for a in node.attribute)
            put(linear.weight, stored(node.input[1]) if transposed else stored(node.input[1]).T, node)
            put(linear.bias, stored(node.input[2]), node)
        node = norms[0]
        for target, name in zip((stem_bn.weight, stem_bn.bias, *_running_stats(stem_bn)), node.input[1:]):
            put(target, stored(name), node)
    return model.eval()


@torch.no_grad()
def recentre_batchnorm(model: nn.Module, *inputs: torch.Tensor) -> None:
    """Give every BatchNorm the input statistics of this batch while keeping its eval-mode function.

    An eval-mode BatchNorm is y = a*x + c; with the batch's mean m and variance s2 it becomes
    running stats (m, s2), weight a*sqrt(s2+eps), bias a*m + c: the same y in eval mode, and close to
    it in train mode on batches like this one.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    stats: dict[nn.BatchNorm2d, tuple[torch.Tensor, torch.Tensor]] = {}
    hooks = [bn.register_forward_pre_hook(
        lambda bn, args: stats.__setitem__(bn, (args[0].mean((0, 2, 3)), args[0].var((0, 2, 3), unbiased=False))))
        for bn in norms]
    was_training = model.training
    try:
        model.eval()
        model(*inputs)
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    for bn in norms:
        mean, var = stats[bn]
        running_mean, running_var = _running_stats(bn)
        scale = bn.weight / torch.sqrt(running_var + bn.eps)
        shift = bn.bias - running_mean * scale
        running_mean.copy_(mean)
        running_var.copy_(var)
        bn.weight.copy_(scale * torch.sqrt(var + bn.eps))
        bn.bias.copy_(scale * mean + shift)

