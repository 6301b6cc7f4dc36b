"""Fitting the Lyapunov density model G(s, a) by the LDM backup on logged transitions.

G is the least fixed point above E of  G(s,a) = max{E(s,a), min_a' G(s',a')}  (Kang et al. 2022).
It is fitted TD-style:
- target y = (1-g) E(s,a) + g max{E(s,a), min_k max(E(s',a_k), G_targ(s',a_k))} over a candidate
  action grid a_k, with g annealed from `gamma_start` to `gamma_end` (-> 1). The discounted backup
  is a contraction whose fixed point rises to the LDM from below as g -> 1, so annealing starts
  stable and ends at the true fixed point.
- G at the next state is taken as max(E, G): the function used at run time, so the backup sees it.
- Two critics with soft-updated target networks. The min over a' biases TD estimates *down* (an
  optimistic, permissive filter), the mirror image of Q-learning's max bias; so the guard is the
  mirror of TD3's: the target and the exported G use the *larger* of the two critics.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn


class Critic(nn.Module):
    def __init__(self, state_dim: int, action_dim: int, hidden: int = 128) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(state_dim + action_dim, hidden), nn.SiLU(), nn.Linear(hidden, hidden),
                                 nn.SiLU(), nn.Linear(hidden, 1))

    def forward(self, s: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([s, a], dim=1)).squeeze(1)


class TwinCritic(nn.Module):
    """Two critics; their value is the larger one (the conservative side for an LDM)."""

    def __init__(self, state_dim: int, action_dim: int, hidden: int = 128) -> None:
        super().__init__()
        self.critics = nn.ModuleList([Critic(state_dim, action_dim, hidden) for _ in range(2)])

    def forward(self, s: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return torch.maximum(self.critics[0](s, a), self.critics[1](s, a))

    def on_grid(self, s: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
        """s [B, ds] x candidates [K, da] -> G [B, K]."""
        b, k = s.shape[0], candidates.shape[0]
        flat = self(s.repeat_interleave(k, dim=0), candidates.repeat(b, 1))
        return flat.view(b, k)


def backup_target(e_sa: torch.Tensor, e_next: torch.Tensor, g_next: torch.Tensor, gamma: float) -> torch.Tensor:
    """e_sa [B], e_next/g_next [B, K] at the next state's candidates -> the discounted LDM target [B]."""
    best_next = torch.maximum(e_next, g_next).min(dim=1).values
    return (1.0 - gamma) * e_sa + gamma * torch.maximum(e_sa, best_next)


@dataclass
class BackupSchedule:
    steps: int = 4000
    batch_size: int = 256
    tau: float = 0.05
    gamma_start: float = 0.5
    gamma_end: float = 0.99
    anneal_fraction: float = 0.4

    def gamma(self, step: int) -> float:
        ramp = min(1.0, step / max(1.0, self.anneal_fraction * self.steps))
        return self.gamma_start + (self.gamma_end - self.gamma_start) * ramp


@dataclass
class TransitionTensors:
    """Transitions as indices into a table of states, with the energies the backup needs precomputed."""

    states: torch.Tensor  # [S, ds] every state (context) once
    state_index: torch.Tensor  # [N] long
    actions: torch.Tensor  # [N, da]
    next_index: torch.Tensor  # [N] long
    energy: torch.Tensor  # [N] E(s, a)
    next_energy: torch.Tensor  # [N, K] E(s', a_k)


class LdmFitter:
    """Twin critics + targets + optimiser, resumable through state_dict()."""

    def __init__(self, state_dim: int, action_dim: int, hidden: int = 128, lr: float = 1e-3, seed: int = 0) -> None:
        torch.manual_seed(seed)
        self.critic = TwinCritic(state_dim, action_dim, hidden)
        self.target = copy.deepcopy(self.critic).requires_grad_(False)
        self.optimizer = torch.optim.Adam(self.critic.parameters(), lr=lr)
        self.generator = torch.Generator().manual_seed(seed)
        self.step = 0

    def state_dict(self) -> dict:
        return {"critic": self.critic.state_dict(), "target": self.target.state_dict(),
                "optimizer": self.optimizer.state_dict(), "generator": self.generator.get_state(), "step": self.step}

    def load_state_dict(self, state: dict) -> None:
        self.critic.load_state_dict(state["critic"])
        self.target.load_state_dict(state["target"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        self.step = int(state["step"])

    def fit(self, data: TransitionTensors, candidates: torch.Tensor, schedule: BackupSchedule,
            on_step: Callable[[int, float, float], None] | None = None) -> None:
        """Run from self.step to schedule.steps; on_step(step, loss, gamma) after each (progress, checkpoints)."""
        n = data.state_index.shape[0]
        while self.step < schedule.steps:
            gamma = schedule.gamma(self.step)
            idx = torch.randint(0, n, (min(schedule.batch_size, n),), generator=self.generator)
            s = data.states[data.state_index[idx]]
            s_next = data.states[data.next_index[idx]]
            with torch.no_grad():
                g_next = self.target.on_grid(s_next, candidates)
                y = backup_target(data.energy[idx], data.next_energy[idx], g_next, gamma)
            a = data.actions[idx]
            loss = torch.stack([nn.functional.mse_loss(c(s, a), y) for c in self.critic.critics]).sum()
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
            with torch.no_grad():
                for p, p_targ in zip(self.critic.parameters(), self.target.parameters()):
                    p_targ.lerp_(p, schedule.tau)
            self.step += 1
            if on_step is not None:
                on_step(self.step, float(loss.detach()), gamma)
