"""The General Navigation Model (GNM) in plain torch, with the reference state_dict layout.

forward() is the whole network; encode_observation() and predict_from_encoding() are its two
halves, so the observation branch can be run once and reused for many goal images.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from gnm_nav.gnm.mobilenet import FEATURE_CHANNELS, mobilenet_v2_features

TRUNK_HIDDEN = 256
TRUNK_OUT = 32


class GNM(nn.Module):
    """obs_img [B, 3*(context_size+1), H, W] + goal_img [B, 3, H, W] -> (dist [B, 1], action [B, len, 4 or 2])."""

    def __init__(self, context_size: int = 5, len_traj_pred: int = 5, learn_angle: bool = True,
                 obs_encoding_size: int = 1024, goal_encoding_size: int = 1024):
        super().__init__()
        self.context_size = context_size
        self.len_traj_pred = len_traj_pred
        self.learn_angle = learn_angle
        self.num_action_params = 4 if learn_angle else 2
        self.obs_encoding_size = obs_encoding_size
        self.goal_encoding_size = goal_encoding_size
        self.obs_channels = 3 * (context_size + 1)

        self.obs_mobilenet = mobilenet_v2_features(self.obs_channels)
        self.compress_observation = nn.Sequential(nn.Linear(FEATURE_CHANNELS, obs_encoding_size), nn.ReLU())
        self.goal_mobilenet = mobilenet_v2_features(self.obs_channels + 3)
        self.compress_goal = nn.Sequential(
            nn.Linear(FEATURE_CHANNELS, goal_encoding_size), nn.ReLU(),
            nn.Linear(goal_encoding_size, goal_encoding_size), nn.ReLU(),
        )
        self.linear_layers = nn.Sequential(
            nn.Linear(obs_encoding_size + goal_encoding_size, TRUNK_HIDDEN), nn.ReLU(),
            nn.Linear(TRUNK_HIDDEN, TRUNK_OUT), nn.ReLU(),
        )
        self.dist_predictor = nn.Sequential(nn.Linear(TRUNK_OUT, 1))
        self.action_predictor = nn.Sequential(nn.Linear(TRUNK_OUT, len_traj_pred * self.num_action_params))

    def arch_config(self) -> dict[str, Any]:
        """The constructor arguments, as recorded in model cards and used to rebuild the network."""
        return {
            "context_size": self.context_size,
            "len_traj_pred": self.len_traj_pred,
            "learn_angle": self.learn_angle,
            "obs_encoding_size": self.obs_encoding_size,
            "goal_encoding_size": self.goal_encoding_size,
        }

    def forward(self, obs_img: torch.Tensor, goal_img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.predict_from_encoding(obs_img, goal_img, self.encode_observation(obs_img))

    def encode_observation(self, obs_img: torch.Tensor) -> torch.Tensor:
        """The observation branch: obs_img [B, C, H, W] -> obs encoding [B, obs_encoding_size]."""
        return self.compress_observation(_global_pool(self.obs_mobilenet(obs_img)))

    def predict_from_encoding(self, obs_img: torch.Tensor, goal_img: torch.Tensor,
                              obs_encoding: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Goal branch + trunk + heads. obs_img/obs_encoding may have batch 1 and are then shared by all N goals."""
        goal_features = self.goal_mobilenet[1:](self._goal_stem(obs_img, goal_img))
        goal_encoding = self.compress_goal(_global_pool(goal_features))
        obs_encoding = obs_encoding.expand(goal_encoding.shape[0], -1)
        z = self.linear_layers(torch.cat([obs_encoding, goal_encoding], dim=1))
        dist = self.dist_predictor(z)
        action = self.action_predictor(z).reshape(-1, self.len_traj_pred, self.num_action_params)
        return dist, self._postprocess_action(action)

    def _goal_stem(self, obs_img: torch.Tensor, goal_img: torch.Tensor) -> torch.Tensor:
        """First goal-branch block on cat(obs, goal), computed as conv(obs) + conv(goal).

        The stem conv is linear and bias-free, so splitting its weight by input channels gives the
        same result while the observation half runs once for a whole batch of goals.
        """
        conv, norm, act = list(self.goal_mobilenet[0].children())
        assert isinstance(conv, nn.Conv2d)
        w_obs, w_goal = conv.weight[:, :self.obs_channels], conv.weight[:, self.obs_channels:]
        pre = (F.conv2d(obs_img, w_obs, stride=conv.stride, padding=conv.padding)
               + F.conv2d(goal_img, w_goal, stride=conv.stride, padding=conv.padding))
        return act(norm(pre))

    def _postprocess_action(self, action: torch.Tensor) -> torch.Tensor:
        """The head predicts xy deltas and an unnormalised heading: integrate xy, normalise (cos, sin)."""
        xy = torch.cumsum(action[..., :2], dim=1)
        if not self.learn_angle:
            return xy
        return torch.cat([xy, F.normalize(action[..., 2:], dim=-1)], dim=-1)


def _global_pool(features: torch.Tensor) -> torch.Tensor:
    return torch.flatten(F.adaptive_avg_pool2d(features, 1), 1)


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
