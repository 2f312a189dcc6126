"""TD3, twin delayed deep deterministic policy gradient (Fujimoto et al. 2018, "Addressing Function Approximation
Error in Actor-Critic Methods"): DDPG (:mod:`pgtrain.algos.ddpg`) with its three fixes, as CleanRL's
td3_continuous_action.py.

- clipped double-Q learning (section 4.2, eq. 10): two critics Q_1, Q_2 (one :class:`~pgtrain.nets.TwinQCritic`),
  both regressed on the smaller of their targets' values,
      y = r + gamma (1 - d) min_{i=1,2} Q'_i(s', a~)
- target-policy smoothing (section 5.3, eq. 14): the target action is the target actor's plus clipped noise,
      a~ = clip(mu'(s') + clip(eps, -c, c), low, high),  eps ~ N(0, sigma~^2)
  with sigma~ = ``target_noise`` and c = ``target_noise_clip``, both in units of the action range's half-width;
- delayed policy updates (section 5.2): the actor ascends Q_1(s, mu(s)) and the three target networks are
  Polyak-averaged once every ``policy_delay`` critic steps.

Exploration, the replay buffer, the collector and the uniformly random start are DDPG's.
"""

from __future__ import annotations

import gymnasium as gym
import torch

from pgtrain.algos.ddpg import DDPG
from pgtrain.buffers import ReplayBatch
from pgtrain.config import TD3Config
from pgtrain.nets import TwinQCritic
from pgtrain.returns import td_targets


def smoothed_target_action(
    mu: torch.Tensor, noise: torch.Tensor, noise_clip: torch.Tensor, low: torch.Tensor, high: torch.Tensor
) -> torch.Tensor:
    """a~ = clip(mu + clip(noise, -c, c), low, high) ``(B, act_dim)``; ``noise`` already scaled to its std."""
    return torch.max(torch.min(mu + torch.max(torch.min(noise, noise_clip), -noise_clip), high), low)


def clipped_double_q_target(
    rewards: torch.Tensor, next_q1: torch.Tensor, next_q2: torch.Tensor, terminated: torch.Tensor, gamma: float
) -> torch.Tensor:
    """y = r + gamma (1 - terminated) min(Q'_1, Q'_2), ``(B,)``."""
    return td_targets(rewards, torch.min(next_q1, next_q2), terminated, gamma)


class TD3(DDPG):
    name = "td3"
    critic_class = TwinQCritic

    def __init__(self, obs_space: gym.Space, action_space: gym.Space, cfg: TD3Config, device: torch.device) -> None:
        super().__init__(obs_space, action_space, cfg, device)
        half_width = self.actor.half_width
        self.target_std = cfg.target_noise * half_width
        self.target_clip = cfg.target_noise_clip * half_width
        self.low_t, self.high_t = self.actor.center - half_width, self.actor.center + half_width

    def critic_targets(self, rewards: torch.Tensor, next_obs: torch.Tensor, terminated: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            mu = self.actor_target(next_obs)
            noise = torch.randn_like(mu) * self.target_std
            next_q1, next_q2 = self.critic_target(next_obs, smoothed_target_action(mu, noise, self.target_clip, self.low_t, self.high_t))
            return clipped_double_q_target(rewards, next_q1, next_q2, terminated, self.cfg.gamma)

    def actor_q(self, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        return self.critic(obs, actions)[0]  # Q_1, as the paper

    def gradient_step(self, b: ReplayBatch) -> dict[str, float]:
        obs, actions, rewards, next_obs, terminated = self.batch_tensors(b)
        critic_loss, q = self.critic_step(obs, actions, self.critic_targets(rewards, next_obs, terminated))
        metrics = {"loss/critic": critic_loss.item(), "value/q_mean": q.mean().item()}
        if self.updates % self.cfg.policy_delay == 0:
            metrics["loss/actor"] = self.actor_step(obs).item()
            self.update_targets()
        self.updates += 1
        return metrics
