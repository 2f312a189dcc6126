"""DDPG, deep deterministic policy gradient (Lillicrap et al. 2016), as in the lecture.

A deterministic actor mu_theta(s) (tanh, scaled to the action bounds) and a critic Q_phi(s, a), trained off-policy from
a replay buffer of transitions (s, a, r, s', d), d = terminated (a time-limit cut is not an end: it is bootstrapped).
Each gradient step samples a minibatch of B transitions uniformly and does, in this order:

- critic: y = r + gamma (1 - d) Q_phi'(s', mu_theta'(s'))   (the target networks, no gradient through y)
          phi <- phi - critic_lr * grad_phi 1/B sum (Q_phi(s, a) - y)^2
- actor:  the deterministic policy gradient
          grad_theta J ~ 1/B sum grad_a Q_phi(s, a)|_{a = mu_theta(s)} grad_theta mu_theta(s),
          i.e. theta ascends 1/B sum Q_phi(s, mu_theta(s)) (autograd applies the chain rule dQ/da * dmu/dtheta)
- targets (Polyak averaging): phi' <- tau phi + (1 - tau) phi',  theta' <- tau theta + (1 - tau) theta'

Exploration: a = clip(mu_theta(s) + eps) with eps ~ N(0, sigma^2) (``noise=gaussian``) or an Ornstein-Uhlenbeck process
eps_{t+1} = (1 - ou_theta) eps_t + sigma xi_t, xi_t ~ N(0, 1) (``noise=ou``; the paper's discretisation, dt = 1; it
restarts at 0 with each episode), where sigma = noise_std * the action range's half-width. ``act(explore=False)`` is
mu_theta(s) itself. The uniformly random actions of the first ``learning_starts`` steps come from the collector.
"""

from __future__ import annotations

import copy
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from pgtrain.algos.base import Algorithm
from pgtrain.buffers import ReplayBuffer
from pgtrain.config import DDPGConfig, Noise
from pgtrain.nets import DeterministicActor, QCritic, make_optimizer
from pgtrain.returns import td_targets


def polyak_update(target: nn.Module | list[torch.Tensor], source: nn.Module | list[torch.Tensor], tau: float) -> None:
    """target <- tau * source + (1 - tau) * target, parameter by parameter (modules or matching parameter lists)."""
    targets = list(target.parameters()) if isinstance(target, nn.Module) else target
    sources = list(source.parameters()) if isinstance(source, nn.Module) else source
    with torch.no_grad():
        torch._foreach_lerp_(targets, sources, tau)


class DDPG(Algorithm):
    name = "ddpg"
    collector = "replay"
    state_attrs = ("actor", "critic", "actor_target", "critic_target", "actor_opt", "critic_opt")

    def __init__(self, obs_space: gym.Space, action_space: gym.Space, cfg: DDPGConfig, device: torch.device) -> None:
        super().__init__(obs_space, action_space, cfg, device)
        self.actor = DeterministicActor(obs_space, action_space, cfg.hidden_sizes, cfg.activation).to(device)
        self.critic = QCritic(obs_space, action_space, cfg.hidden_sizes, cfg.activation).to(device)
        self.actor_target = copy.deepcopy(self.actor).requires_grad_(False)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        self.actor_opt = make_optimizer(cfg.optimizer, self.actor.parameters(), cfg.lr, fused=True)
        self.critic_opt = make_optimizer(cfg.optimizer, self.critic.parameters(), cfg.critic_lr, fused=True)
        self.actor_params = list(self.actor.parameters())
        # online and target parameters side by side, for one Polyak call per gradient step
        self.online_params = list(self.critic.parameters()) + self.actor_params
        self.target_params = list(self.critic_target.parameters()) + list(self.actor_target.parameters())
        self.low = action_space.low.astype(np.float32)
        self.high = action_space.high.astype(np.float32)
        self.sigma = (cfg.noise_std * (self.high - self.low) / 2).astype(np.float32)
        self.ou_state: np.ndarray | None = None  # (N, act_dim), one OU process per env

    def nonfinite_parameters(self) -> list[str]:
        """One fused check of all four networks per update (a per-tensor scan costs a sixth of a gradient step).

        A NaN or inf makes its tensor's norm non-finite; only then are the tensors scanned one by one for names.
        """
        if torch.stack(torch._foreach_norm(self.online_params + self.target_params)).isfinite().all():
            return []
        return super().nonfinite_parameters()

    # ------------------------------------------------------------------------------------------------------------------
    # Acting

    @torch.no_grad()
    def act(self, obs: np.ndarray, explore: bool = True) -> np.ndarray:
        actions = self.actor(self.tensor(obs)).cpu().numpy()
        if not explore:
            return actions
        return np.clip(actions + self._noise(actions.shape), self.low, self.high).astype(np.float32)

    def _noise(self, shape: tuple[int, ...]) -> np.ndarray:
        xi = np.random.standard_normal(shape).astype(np.float32) * self.sigma
        if self.cfg.noise == Noise.gaussian:
            return xi
        if self.ou_state is None or self.ou_state.shape != shape:
            self.ou_state = np.zeros(shape, dtype=np.float32)
        self.ou_state = (1.0 - self.cfg.ou_theta) * self.ou_state + xi
        return self.ou_state

    def reset_noise(self, envs: np.ndarray) -> None:
        """Restart the OU processes of the envs whose episode ended (``envs``: a boolean mask ``(N,)``)."""
        if self.ou_state is not None:
            self.ou_state[envs] = 0.0

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        if self.ou_state is not None:  # the running OU processes, so a resumed run continues them exactly
            state["ou_state"] = torch.from_numpy(self.ou_state.copy())
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.ou_state = state["ou_state"].numpy().copy() if "ou_state" in state else None

    # ------------------------------------------------------------------------------------------------------------------
    # Learning

    def critic_targets(self, rewards: torch.Tensor, next_obs: torch.Tensor, terminated: torch.Tensor) -> torch.Tensor:
        """y = r + gamma (1 - terminated) Q'(s', mu'(s')), ``(B,)``; truncated transitions keep their bootstrap."""
        with torch.no_grad():
            next_q = self.critic_target(next_obs, self.actor_target(next_obs))
            return td_targets(rewards, next_q, terminated, self.cfg.gamma)

    def update(self, batch: ReplayBuffer) -> dict[str, float]:
        """``gradient_steps`` gradient steps, each on a fresh uniform minibatch from the replay buffer."""
        metrics: dict[str, float] = {}
        for _ in range(self.cfg.gradient_steps):
            metrics = self._gradient_step(batch)
        return metrics

    def _gradient_step(self, buffer: ReplayBuffer) -> dict[str, float]:
        cfg = self.cfg
        b = buffer.sample(cfg.batch_size)
        obs, actions, next_obs = self.tensor(b.obs), self.tensor(b.actions), self.tensor(b.next_obs)
        y = self.critic_targets(self.tensor(b.rewards), next_obs, self.tensor(b.terminated))

        q = self.critic(obs, actions)
        critic_loss = (q - y).pow(2).mean()
        self.critic_opt.zero_grad(set_to_none=True)
        critic_loss.backward()
        if cfg.max_grad_norm > 0:
            self.clip_grads(self.critic.parameters())
        self.critic_opt.step()

        # dQ/da flows back through a = mu_theta(s) into theta; the critic's weights get no gradient from this loss.
        actor_loss = -self.critic(obs, self.actor(obs)).mean()
        self.actor_opt.zero_grad(set_to_none=True)
        actor_loss.backward(inputs=self.actor_params)
        if cfg.max_grad_norm > 0:
            self.clip_grads(self.actor.parameters())
        self.actor_opt.step()

        polyak_update(self.target_params, self.online_params, cfg.tau)
        self.updates += 1
        return {"loss/critic": critic_loss.item(), "loss/actor": actor_loss.item(), "critic/q_mean": q.mean().item()}
