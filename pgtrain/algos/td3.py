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

from dataclasses import dataclass, field

from pgtrain.config import Noise, OffPolicyConfig, check_at_least, check_exploration_noise

ACTION_TYPES = ("continuous",)  # the env action types it can drive


@dataclass
class TD3Config(OffPolicyConfig):
    """TD3 (Fujimoto et al. 2018, Algorithm 1): clipped double-Q targets (eq. 10), target-policy smoothing (eq. 14) and
    delayed actor updates, exploring with DDPG's noise. Defaults: CleanRL's td3_continuous_action.py."""

    name: str = "td3"
    num_envs: int = 1  # parallel envs
    lr: float = 3e-4  # learning rate of the actor
    critic_lr: float = 3e-4  # learning rate of both critics
    hidden_sizes: list[int] = field(default_factory=lambda: [256, 256])  # widths of the hidden layers (actor and critics)
    buffer_size: int = 1_000_000  # replay capacity in transitions
    batch_size: int = 256  # transitions per gradient step
    tau: float = 0.005  # Polyak rate of the three target networks
    learning_starts: int = 25_000  # uniformly random actions for this many env steps before learning
    noise: Noise = Noise.gaussian  # exploration noise: gaussian | ou
    noise_std: float = 0.1  # exploration noise scale, as a fraction of the action range's half-width
    ou_theta: float = 0.15  # Ornstein-Uhlenbeck mean reversion per step: eps <- (1 - ou_theta) eps + sigma xi
    noise_decay_steps: int = 0  # env steps over which noise_std falls linearly to noise_final_fraction of itself (0 = constant)
    noise_final_fraction: float = 0.0  # share of noise_std left after noise_decay_steps (and kept from then on)
    policy_delay: int = 2  # critic steps per actor and target update
    target_noise: float = 0.2  # std of the target-policy smoothing noise, as a fraction of the action half-width
    target_noise_clip: float = 0.5  # the smoothing noise is clipped to +-this (same units)

    def __post_init__(self) -> None:
        super().__post_init__()
        check_exploration_noise(self)
        check_at_least("algo.policy_delay", self.policy_delay, 1)
        check_at_least("algo.target_noise", self.target_noise, 0.0)
        check_at_least("algo.target_noise_clip", self.target_noise_clip, 0.0)


# ---- end of the declaration; the algorithm below imports torch ----

import gymnasium as gym
import torch

from pgtrain.algos.ddpg import DDPG
from pgtrain.buffers import ReplayBatch
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
