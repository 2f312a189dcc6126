"""SAC, soft actor-critic with a learned temperature (Haarnoja et al. 2018, "Soft Actor-Critic Algorithms and
Applications"), as CleanRL's sac_continuous_action.py.

The policy maximises return plus alpha times its entropy. Each gradient step, on a minibatch from the replay buffer:

- soft Q targets (eq. 2-3, with TD3's clipped double Q): a' ~ pi(.|s'),
      y = r + gamma (1 - d) (min_{i=1,2} Q'_i(s', a') - alpha log pi(a'|s'))
  and both critics regress on y (eq. 5, one :class:`~pgtrain.nets.TwinQCritic`);
- the policy (eq. 7, reparameterised a = c + h tanh(mu(s) + sigma(s) xi), :class:`~pgtrain.nets.SquashedGaussianActor`
  with the change-of-variables log-probability of appendix C, :func:`pgtrain.nets.squashed_log_prob`):
      J_pi = mean(alpha log pi(a|s) - min_i Q_i(s, a))
- the temperature (eq. 18; ``autotune``): J(alpha) = mean(-log alpha (log pi(a|s) + H_target)), with the target entropy
  H_target = -dim(A) unless ``target_entropy`` says otherwise (SB3's form, on log alpha); fixed ``alpha`` otherwise;
- Polyak averaging of the target critics (no target actor).

Acting samples from pi (``explore``) or takes c + h tanh(mu(s)); the replay buffer, the collector and its uniformly
random start are DDPG's (:mod:`pgtrain.algos.offpolicy`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pgtrain.config import OffPolicyConfig, check, check_positive

ACTION_TYPES = ("continuous",)  # the env action types it can drive


@dataclass
class SACConfig(OffPolicyConfig):
    """SAC (Haarnoja et al. 2018, "Soft Actor-Critic Algorithms and Applications"): soft Q targets with clipped double Q
    (eq. 2-3, 5), the reparameterised policy loss (eq. 7) and the learned temperature (eq. 18). Defaults: CleanRL's
    sac_continuous_action.py (policy_frequency 1)."""

    name: str = "sac"
    num_envs: int = 1  # parallel envs
    lr: float = 3e-4  # learning rate of the actor
    critic_lr: float = 1e-3  # learning rate of both soft Q critics
    hidden_sizes: list[int] = field(default_factory=lambda: [256, 256])  # widths of the hidden layers (actor and critics)
    buffer_size: int = 1_000_000  # replay capacity in transitions
    batch_size: int = 256  # transitions per gradient step
    tau: float = 0.005  # Polyak rate of the target critics
    learning_starts: int = 5_000  # uniformly random actions for this many env steps before learning
    alpha: float = 0.2  # the temperature: fixed, or where autotune starts (CleanRL and SB3 start it at 1.0)
    autotune: bool = True  # learn the temperature toward target_entropy
    target_entropy: float | None = None  # the entropy the temperature aims at (null = -dim(A), the paper's)
    alpha_lr: float = 1e-3  # learning rate of log(alpha)
    log_std_min: float = -5.0  # lower bound of the actor's log-std (CleanRL's range)
    log_std_max: float = 2.0  # upper bound of the actor's log-std (CleanRL's range)

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive("algo.alpha", self.alpha)
        check_positive("algo.alpha_lr", self.alpha_lr)
        check(self.log_std_min < self.log_std_max, f"algo.log_std_min={self.log_std_min} must be < algo.log_std_max={self.log_std_max}")


# ---- end of the declaration; the algorithm below imports torch ----

import copy
import math

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from pgtrain.algos.offpolicy import OffPolicy
from pgtrain.buffers import ReplayBatch
from pgtrain.nets import SquashedGaussianActor, TwinQCritic, make_optimizer
from pgtrain.returns import td_targets


def soft_q_target(
    rewards: torch.Tensor,
    next_q1: torch.Tensor,
    next_q2: torch.Tensor,
    next_log_prob: torch.Tensor,
    alpha: torch.Tensor | float,
    terminated: torch.Tensor,
    gamma: float,
) -> torch.Tensor:
    """y = r + gamma (1 - terminated) (min(Q'_1, Q'_2) - alpha log pi(a'|s')), ``(B,)``."""
    return td_targets(rewards, torch.min(next_q1, next_q2) - alpha * next_log_prob, terminated, gamma)


class Temperature(nn.Module):
    """alpha = exp(log_alpha), learned in log space so it stays positive."""

    def __init__(self, alpha: float) -> None:
        super().__init__()
        self.log_alpha = nn.Parameter(torch.tensor(math.log(alpha)))

    def forward(self) -> torch.Tensor:
        return self.log_alpha.exp()


class SAC(OffPolicy):
    name = "sac"
    critic_class = TwinQCritic
    state_attrs = ("actor", "critic", "critic_target", "temperature", "actor_opt", "critic_opt", "alpha_opt")

    def __init__(self, obs_space: gym.Space, action_space: gym.Space, cfg: SACConfig, device: torch.device) -> None:
        super().__init__(obs_space, action_space, cfg, device)
        self.actor = SquashedGaussianActor(obs_space, action_space, cfg.hidden_sizes, cfg.activation, cfg.log_std_min, cfg.log_std_max)
        self.actor = self.actor.to(device)
        self.critic = self.critic_class(obs_space, action_space, cfg.hidden_sizes, cfg.activation).to(device)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        self.temperature = Temperature(cfg.alpha).to(device)
        self.actor_opt = make_optimizer(cfg, self.actor.parameters(), cfg.lr, fused=True)
        self.critic_opt = make_optimizer(cfg, self.critic.parameters(), cfg.critic_lr, fused=True)
        self.alpha_opt = make_optimizer(cfg, self.temperature.parameters(), cfg.alpha_lr, fused=True)
        self.actor_params = list(self.actor.parameters())
        self.online_params = list(self.critic.parameters())
        self.target_params = list(self.critic_target.parameters())
        act_dim = int(np.prod(action_space.shape))
        self.target_entropy = -float(act_dim) if cfg.target_entropy is None else cfg.target_entropy

    @torch.no_grad()
    def act(self, obs: np.ndarray, explore: bool = True) -> np.ndarray:
        x = self.tensor(obs)
        actions = self.actor.sample(x)[0] if explore else self.actor.mode(x)
        return actions.cpu().numpy()

    def gradient_step(self, b: ReplayBatch) -> dict[str, float]:
        cfg = self.cfg
        obs, actions, rewards, next_obs, terminated = self.batch_tensors(b)
        alpha = self.temperature().detach()
        with torch.no_grad():
            next_actions, next_log_prob = self.actor.sample(next_obs)
            next_q1, next_q2 = self.critic_target(next_obs, next_actions)
            y = soft_q_target(rewards, next_q1, next_q2, next_log_prob, alpha, terminated, cfg.gamma)
        critic_loss, q = self.critic_step(obs, actions, y)

        new_actions, log_prob = self.actor.sample(obs)
        actor_loss = (alpha * log_prob - self.critic(obs, new_actions).min(0).values).mean()
        self.actor_opt.zero_grad(set_to_none=True)
        actor_loss.backward(inputs=self.actor_params)
        if cfg.max_grad_norm > 0:
            self.clip_grads(self.actor_params)
        self.actor_opt.step()

        if cfg.autotune:
            alpha_loss = -(self.temperature.log_alpha * (log_prob.detach() + self.target_entropy)).mean()
            self.alpha_opt.zero_grad(set_to_none=True)
            alpha_loss.backward()
            self.alpha_opt.step()

        self.update_targets()
        self.updates += 1
        return {
            "loss/critic": critic_loss.item(),
            "loss/actor": actor_loss.item(),
            "value/q_mean": q.mean().item(),
            "policy/alpha": alpha.item(),
            "policy/entropy": -log_prob.mean().item(),
        }
