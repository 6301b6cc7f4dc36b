"""Density model E(z, a) = -log p(u(z)) - log p(a | u(z)), in nats.

Why this model:
- u(z) is a fixed feature map of the 1024-d GNM encoding: whitened PCA coordinates plus the
  standardised log norm of the PCA residual. Densities in 1024 dimensions are unreliable, but
  dropping the residual would let an unfamiliar image that happens to project near the data's
  mean look typical; the residual norm is the one number that says "off the data's subspace".
- p(u) is a full-covariance Gaussian mixture and p(a | u) a mixture density network over the 2-D
  action. Both are normalised densities trained by maximum likelihood, so E is a calibrated
  -log-density (the LDM's threshold is a density cutoff), and evaluating them is a few small
  matmuls: ~0.1 ms for 121 candidates on a CPU, no sampling, no ODE, exportable to ONNX.
- Each action component has a floor on its standard deviation (half a candidate-grid step): the
  filter only resolves actions at grid resolution, and exact (0, 0) stops would otherwise get an
  unbounded density.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

LOG_2PI = math.log(2.0 * math.pi)


class FeatureMap(nn.Module):
    """Encoding z [B, D] -> u [B, d+1]: whitened PCA coordinates and the standardised log residual norm."""

    mean: torch.Tensor  # buffers (saved with the state_dict, exported as constants)
    components: torch.Tensor
    scale: torch.Tensor
    residual_loc: torch.Tensor
    residual_scale: torch.Tensor

    def __init__(self, input_dim: int, dim: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(input_dim))
        self.register_buffer("components", torch.zeros(dim, input_dim))
        self.register_buffer("scale", torch.ones(dim))
        self.register_buffer("residual_loc", torch.zeros(()))
        self.register_buffer("residual_scale", torch.ones(()))

    @property
    def output_dim(self) -> int:
        return self.components.shape[0] + 1

    def fit(self, z: np.ndarray) -> None:
        dim = self.components.shape[0]
        if z.shape[0] < 2:
            raise ValueError("need at least two encodings to fit the feature map")
        mean = z.mean(axis=0)
        _, sing, vt = np.linalg.svd(z - mean, full_matrices=False)
        std = sing[:dim] / math.sqrt(z.shape[0] - 1)
        components = np.zeros((dim, z.shape[1]), np.float32)
        scale = np.ones(dim, np.float32)
        components[:len(std)] = vt[:dim]
        scale[:len(std)] = np.maximum(std, 1e-3 * max(float(std[0]), 1e-6))
        self.mean.copy_(torch.from_numpy(mean.astype(np.float32)))
        self.components.copy_(torch.from_numpy(components))
        self.scale.copy_(torch.from_numpy(scale))
        with torch.no_grad():
            log_res = self._log_residual(torch.from_numpy(z.astype(np.float32)))
        self.residual_loc.copy_(log_res.mean())
        self.residual_scale.copy_(log_res.std().clamp_min(1e-3))

    def _log_residual(self, z: torch.Tensor) -> torch.Tensor:
        centred = z - self.mean
        residual = centred - (centred @ self.components.T) @ self.components
        return torch.log(residual.pow(2).sum(dim=1) + 1e-8) * 0.5

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        coords = ((z - self.mean) @ self.components.T) / self.scale
        res = (self._log_residual(z) - self.residual_loc) / self.residual_scale
        return torch.cat([coords, res[:, None]], dim=1)


class GaussianMixture(nn.Module):
    """Full-covariance mixture, parametrised by precision Cholesky factors (ONNX-friendly: matmuls only)."""

    lower_mask: torch.Tensor  # buffers
    eye: torch.Tensor

    def __init__(self, dim: int, components: int) -> None:
        super().__init__()
        self.dim = dim
        self.logits = nn.Parameter(torch.zeros(components))
        self.means = nn.Parameter(torch.randn(components, dim) * 0.5)
        self.raw_diag = nn.Parameter(torch.zeros(components, dim))
        self.raw_lower = nn.Parameter(torch.zeros(components, dim, dim))
        self.register_buffer("lower_mask", torch.tril(torch.ones(dim, dim), diagonal=-1))
        self.register_buffer("eye", torch.eye(dim))

    def init_means(self, u: torch.Tensor, gen: torch.Generator) -> None:
        idx = torch.randperm(u.shape[0], generator=gen)[:self.means.shape[0]]
        with torch.no_grad():
            self.means[:len(idx)] = u[idx]

    def log_prob(self, u: torch.Tensor) -> torch.Tensor:
        diag = nn.functional.softplus(self.raw_diag) + 1e-3  # [M, d]
        prec_chol = self.raw_lower * self.lower_mask + diag[:, :, None] * self.eye  # [M, d, d] lower
        centred = u[:, None, :] - self.means[None]  # [B, M, d]
        y = torch.einsum("bmi,mij->bmj", centred, prec_chol)
        log_norm = torch.log(diag).sum(dim=1) - 0.5 * self.dim * LOG_2PI  # [M]
        comp = -0.5 * y.pow(2).sum(dim=2) + log_norm
        return torch.logsumexp(comp + torch.log_softmax(self.logits, dim=0), dim=1)


class ActionMixture(nn.Module):
    """p(a | u): a mixture density network over normalised 2-D actions with a std floor."""

    def __init__(self, feature_dim: int, components: int = 5, hidden: int = 64, min_std: float = 0.1) -> None:
        super().__init__()
        self.components = components
        self.min_std = min_std
        self.net = nn.Sequential(nn.Linear(feature_dim, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(),
                                 nn.Linear(hidden, components * 5))

    def log_prob(self, u: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """u [B, d] with a [B, 2] (row-wise) -> log p [B]."""
        out = self.net(u).view(-1, self.components, 5)
        logits, means, raw_std = out[..., 0], out[..., 1:3], out[..., 3:5]
        std = nn.functional.softplus(raw_std) + self.min_std
        z = (a[:, None, :] - means) / std
        comp = -0.5 * z.pow(2).sum(dim=2) - torch.log(std).sum(dim=2) - LOG_2PI
        return torch.logsumexp(comp + torch.log_softmax(logits, dim=1), dim=1)


class DensityModel(nn.Module):
    """E(u, a_normalised) in nats, the negative joint log-density."""

    def __init__(self, feature_dim: int, state_components: int = 8, action_components: int = 5,
                 min_action_std: float = 0.1) -> None:
        super().__init__()
        self.state = GaussianMixture(feature_dim, state_components)
        self.action = ActionMixture(feature_dim, action_components, min_std=min_action_std)

    def energy(self, u: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return -(self.state.log_prob(u) + self.action.log_prob(u, a))


def fit_density(model: DensityModel, u: np.ndarray, a: np.ndarray, steps: int, batch_size: int = 256,
                lr: float = 3e-3, seed: int = 0, progress=None) -> list[float]:
    """Maximum-likelihood fit on (u, a_normalised) pairs; returns the loss (mean NLL) per step."""
    gen = torch.Generator().manual_seed(seed)
    ut = torch.from_numpy(u.astype(np.float32))
    at = torch.from_numpy(a.astype(np.float32))
    model.state.init_means(ut, gen)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(steps, 1))
    losses = []
    for _ in range(steps):
        idx = torch.randint(0, ut.shape[0], (min(batch_size, ut.shape[0]),), generator=gen)
        loss = model.energy(ut[idx], at[idx]).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
        if progress is not None:
            progress(losses[-1])
    return losses
