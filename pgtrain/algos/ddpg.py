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
restarts at 0 with each episode), where sigma = noise_std * the action range's half-width, times the factor of
``noise_decay_steps`` / ``noise_final_fraction`` (:mod:`pgtrain.schedules`; 1 by default). ``act(explore=False)`` is
mu_theta(s) itself. The uniformly random actions of the first ``learning_starts`` steps come from the collector.
"""

from __future__ import annotations

from dataclasses import dataclass

from pgtrain.config import Noise, OffPolicyConfig, check_exploration_noise

ACTION_TYPES = ("continuous",)  # the env action types it can drive


@dataclass
class DDPGConfig(OffPolicyConfig):
    """DDPG (Lillicrap et al. 2016, Algorithm 1): the critic regresses on y = r + gamma Q'(s', mu'(s')) (eq. 4-5), the
    actor follows the deterministic policy gradient grad_a Q(s, a) grad_theta mu(s) (eq. 6; Silver et al. 2014), the
    targets track by Polyak averaging, and exploration adds noise to mu(s)."""

    name: str = "ddpg"
    noise: Noise = Noise.gaussian  # exploration noise: gaussian | ou
    noise_std: float = 0.1  # noise scale, as a fraction of the action range's half-width
    ou_theta: float = 0.15  # Ornstein-Uhlenbeck mean reversion per step: eps <- (1 - ou_theta) eps + sigma xi
    noise_decay_steps: int = 0  # env steps over which noise_std falls linearly to noise_final_fraction of itself (0 = constant)
    noise_final_fraction: float = 0.0  # share of noise_std left after noise_decay_steps (and kept from then on)

    def __post_init__(self) -> None:
        super().__post_init__()
        check_exploration_noise(self)


# ---- end of the declaration; the algorithm below imports torch ----

import copy
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from pgtrain.algos.offpolicy import OffPolicy
from pgtrain.buffers import ReplayBatch
from pgtrain.nets import DeterministicActor, make_optimizer
from pgtrain.returns import td_targets


class DDPG(OffPolicy):
    name = "ddpg"
    state_attrs = ("actor", "critic", "actor_target", "critic_target", "actor_opt", "critic_opt")

    def __init__(self, obs_space: gym.Space, action_space: gym.Space, cfg: DDPGConfig, device: torch.device) -> None:
        super().__init__(obs_space, action_space, cfg, device)
        self.actor = DeterministicActor(obs_space, action_space, cfg.hidden_sizes, cfg.activation).to(device)
        self.critic = self.critic_class(obs_space, action_space, cfg.hidden_sizes, cfg.activation).to(device)
        self.actor_target = copy.deepcopy(self.actor).requires_grad_(False)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        self.actor_opt = make_optimizer(cfg, self.actor.parameters(), cfg.lr, fused=True)
        self.critic_opt = make_optimizer(cfg, self.critic.parameters(), cfg.critic_lr, fused=True)
        self.actor_params = list(self.actor.parameters())
        # online and target parameters side by side, for one Polyak call per gradient step
        self.online_params = list(self.critic.parameters()) + self.actor_params
        self.target_params = list(self.critic_target.parameters()) + list(self.actor_target.parameters())
        self.low = action_space.low.astype(np.float32)
        self.high = action_space.high.astype(np.float32)
        self.sigma = (cfg.noise_std * (self.high - self.low) / 2).astype(np.float32)
        self.ou_state: np.ndarray | None = None  # (N, act_dim), one OU process per env

    # ------------------------------------------------------------------------------------------------------------------
    # Acting

    @torch.no_grad()
    def act(self, obs: np.ndarray, explore: bool = True) -> np.ndarray:
        actions = self.actor(self.tensor(obs)).cpu().numpy()
        if not explore:
            return actions
        return np.clip(actions + self._noise(actions.shape), self.low, self.high).astype(np.float32)

    def _noise(self, shape: tuple[int, ...]) -> np.ndarray:
        # sigma times the schedule's factor (noise_decay_steps; 1 by default): the workspace sets it before each update
        xi = np.random.standard_normal(shape).astype(np.float32) * (self.sigma * np.float32(self.factors.noise_std))
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

    def gradient_step(self, b: ReplayBatch) -> dict[str, float]:
        obs, actions, rewards, next_obs, terminated = self.batch_tensors(b)
        critic_loss, q = self.critic_step(obs, actions, self.critic_targets(rewards, next_obs, terminated))
        actor_loss = self.actor_step(obs)
        self.update_targets()
        self.updates += 1
        return {"loss/critic": critic_loss.item(), "loss/actor": actor_loss.item(), "value/q_mean": q.mean().item()}

    def actor_step(self, obs: torch.Tensor) -> torch.Tensor:
        """Ascend 1/B sum Q(s, mu_theta(s)): dQ/da flows back through a = mu_theta(s) into theta; the critic's weights
        get no gradient from this loss."""
        actor_loss = -self.actor_q(obs, self.actor(obs)).mean()
        self.actor_opt.zero_grad(set_to_none=True)
        actor_loss.backward(inputs=self.actor_params)
        if self.cfg.max_grad_norm > 0:
            self.clip_grads(self.actor.parameters())
        self.actor_opt.step()
        return actor_loss

    def actor_q(self, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """The Q the actor ascends, ``(B,)``."""
        return self.critic(obs, actions)
