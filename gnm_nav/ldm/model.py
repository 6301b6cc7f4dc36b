"""The exported LDM head: one observation encoding + K candidate actions -> E [K], G [K] (nats).

The head takes the GNM observation encoding, not images: the node encodes each camera frame once
(with the GNM's own encoder, whose sha256 the card records) and then scores every command against
that cached encoding, so the per-command cost is this head alone.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from gnm_nav.ldm.backup import TwinCritic
from gnm_nav.ldm.density import DensityModel, FeatureMap


class LdmHead(nn.Module):
    action_loc: torch.Tensor  # buffers
    action_scale: torch.Tensor
    energy_loc: torch.Tensor
    energy_scale: torch.Tensor

    def __init__(self, encoding_dim: int, pca_dim: int, state_components: int = 8, action_components: int = 5,
                 min_action_std: float = 0.1, critic_hidden: int = 128) -> None:
        super().__init__()
        self.features = FeatureMap(encoding_dim, pca_dim)
        feature_dim = self.features.output_dim
        self.density = DensityModel(feature_dim, state_components, action_components, min_action_std)
        self.critic = TwinCritic(feature_dim, 2, critic_hidden)
        self.register_buffer("action_loc", torch.zeros(2))
        self.register_buffer("action_scale", torch.ones(2))
        self.register_buffer("energy_loc", torch.zeros(()))
        self.register_buffer("energy_scale", torch.ones(()))

    def set_action_range(self, low: np.ndarray, high: np.ndarray) -> None:
        """Actions are normalised so the candidate grid spans [-1, 1] on each axis."""
        low, high = np.asarray(low, np.float32), np.asarray(high, np.float32)
        self.action_loc.copy_(torch.from_numpy((low + high) / 2))
        self.action_scale.copy_(torch.from_numpy(np.maximum((high - low) / 2, 1e-3)))

    def set_energy_scale(self, energy: np.ndarray) -> None:
        """The critics work in standardised energy units (an affine map commutes with the backup's max/min)."""
        self.energy_loc.fill_(float(np.mean(energy)))
        self.energy_scale.fill_(float(max(np.std(energy), 1e-3)))

    def normalise_actions(self, actions: torch.Tensor) -> torch.Tensor:
        return (actions - self.action_loc) / self.action_scale

    def energy_features(self, u: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """E for feature rows u [B, d] with raw actions [B, 2]."""
        return self.density.energy(u, self.normalise_actions(actions))

    def critic_features(self, u: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """G's critic alone, in nats (score_features clamps it from below by E)."""
        return self.energy_loc + self.energy_scale * self.critic(u, self.normalise_actions(actions))

    def score_features(self, u: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Feature rows u [B, d] with raw actions [B, 2] -> (E [B], G [B]); G := max(E, G) so G >= E exactly."""
        energy = self.density.energy(u, self.normalise_actions(actions))
        return energy, torch.maximum(energy, self.critic_features(u, actions))

    def forward(self, embedding: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.score_features(self.features(embedding).expand(actions.shape[0], -1), actions)
