"""Advantage actor-critic: the lecture's online actor-critic and batched synchronous A2C, in one update rule.

Online actor-critic (the lecture, one transition at a time; ``num_envs=1 n_steps=1 critic_target=td``, the
``algo=ac_online`` preset):

    1. take a ~ pi_theta(a|s), observe (s, a, r, s')
    2. update V_phi toward y = r + gamma V_phi(s')          (no bootstrap when s' is terminal)
    3. A(s, a) = r + gamma V_phi(s') - V_phi(s)
    4. theta <- theta + alpha grad log pi_theta(a|s) A(s, a)

Every env step is one update (``updates == env_steps`` in summary.json). Steps 2 and 4 are taken together, as one
gradient step on the combined loss below, so A uses V_phi from before this step's critic update (one step of lag
against the lecture's step 3; the batched algorithm does the same).

Batched A2C: ``num_envs`` = N envs step in lockstep for ``n_steps`` = T steps, giving a (T, N) rollout; then one
gradient step on

    L = -mean_t log pi_theta(a_t|s_t) A_t  +  value_coef mean_t (V_phi(s_t) - y_t)^2  -  entropy_coef mean_t H[pi_theta(.|s_t)]

(means over the valid steps: autoreset steps carry no transition and are masked out of every term). The advantage is
GAE(lambda) (``gae_lambda``; :func:`pgtrain.returns.gae`):

    delta_t = r_t + gamma (1 - terminated_t) V(s_{t+1}) - V(s_t)
    A_t     = sum_{l>=0} (gamma lambda)^l delta_{t+l}, the sum stopping at the episode's end or the rollout's end

lambda = 0 is the one-step TD error of the online actor-critic; lambda = 1 is the n-step advantage
A_t = sum_{k=t}^{t_end-1} gamma^(k-t) r_k + gamma^(t_end-t) V(s_{t_end}) - V(s_t), with t_end the first episode end
or the rollout's end after t, and V(s_{t_end}) taken as 0 only when the episode terminated.

The critic's regression target y_t is the switch ``critic_target``, the lecture's two ways to fit V:

- ``td``: the one-step bootstrapped target y_t = r_t + gamma (1 - terminated_t) V(s_{t+1});
- ``mc``: the Monte-Carlo return, as far as the rollout sees it: y_t = sum_{k=t}^{t_end-1} gamma^(k-t) r_k
  + gamma^(t_end-t) V(s_{t_end}), the discounted sum of the rewards observed from t to the end of t's episode, or
  (if the episode is still running) to the end of the rollout, where it is completed by V of the observation there.
  It equals A_t(lambda=1) + V(s_t). A terminated episode is pure Monte-Carlo; only a rollout cut or a time-limit
  truncation bootstraps, because no further rewards exist in the batch.

``terminated`` and ``truncated`` stay apart throughout: both end the GAE sum (``done``), only ``terminated`` zeroes
V(s_{t+1}); a truncated episode (CartPole's 500 steps, Pendulum's 200) is bootstrapped from V of its true final
observation. Bootstrap values V(s_{t+1}) are constants (no gradient flows into targets or advantages).

``shared_network`` puts a linear value head on the policy's torso; otherwise V has its own torso of the same shape.
Both nets are stepped by one optimiser on L, with the global gradient norm clipped to ``max_grad_norm``.
"""

from __future__ import annotations

from dataclasses import dataclass

from pgtrain.config import AlgoConfig, CriticTarget, DiscreteHead, check_actor_critic

ACTION_TYPES = ("discrete", "continuous")  # the env action types it can drive


@dataclass
class A2CConfig(AlgoConfig):
    """Synchronous advantage actor-critic (Mnih et al. 2016, the advantage actor-critic update of section 4, run
    synchronously) with GAE(lambda) advantages (Schulman et al. 2016): L = -mean log pi(a|s) A + value_coef mean
    (V(s) - y)^2 - entropy_coef mean H[pi]. Defaults: CartPole-v1's; other envs' come from configs/tuned/a2c_<env>.yaml.
    num_envs=1, n_steps=1, critic_target=td is the lecture's online actor-critic (``algo=ac_online``)."""

    name: str = "a2c"
    num_envs: int = 32  # parallel envs: each vector step and each update cost about the same for 16 or 32 envs
    lr: float = 0.002  # learning rate of the actor (and of a shared torso)
    network: str = "mlp"  # torso: mlp, or cnn for image observations
    max_grad_norm: float = 0.5  # clip the global gradient norm of actor and critic together (0 = no clipping)
    n_steps: int = 8  # steps per env per update (the rollout length)
    gae_lambda: float = 1.0  # GAE(lambda): 1.0 = the n-step advantage, 0.0 = the one-step TD error
    critic_target: CriticTarget = CriticTarget.mc  # mc: V regresses on the rollout's n-step returns; td: on r + gamma V(s')
    value_coef: float = 0.5  # weight of the value loss
    entropy_coef: float = 0.002  # weight of the entropy bonus
    normalize_advantage: bool = False  # standardise the advantages over the batch
    shared_network: bool = False  # one torso for actor and critic, or two separate networks
    discrete_head: DiscreteHead = DiscreteHead.softmax  # softmax, or sigmoid for two actions
    ortho_init: bool = True  # orthogonal weights (gain sqrt 2; 0.01 on the policy head, 1 on the value head)
    log_std_init: float = 0.0  # initial log standard deviation of the Gaussian policy (continuous actions)
    reward_scale: float = 0.1  # multiply rewards by this inside the update (keeps V of long episodes near 10, not 100)
    value_lr: float | None = 0.005  # learning rate of the critic's own parameters (null = lr); a shared torso uses lr

    def __post_init__(self) -> None:
        super().__post_init__()
        check_actor_critic(self)


# ---- end of the declaration; the algorithm below imports torch ----

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from pgtrain.algos.base import Algorithm
from pgtrain.batches import Rollout, SparseFrames
from pgtrain.nets import Policy, ValueNet, make_optimizer, orthogonal_init
from pgtrain.returns import explained_variance, gae, td_targets


class A2C(Algorithm):
    """The update above; PPO (:mod:`pgtrain.algos.ppo`) builds on its networks and rollout maths with its own schema,
    which has every field read here."""

    name = "a2c"
    collector = "rollout"
    state_attrs = ("policy", "value", "opt")

    def __init__(self, obs_space: gym.Space, action_space: gym.Space, cfg: A2CConfig, device: torch.device) -> None:
        super().__init__(obs_space, action_space, cfg, device)
        self.policy = Policy(
            obs_space, action_space, cfg.network, cfg.hidden_sizes, cfg.activation, cfg.discrete_head, cfg.log_std_init
        ).to(device)
        if cfg.shared_network:
            self.value: nn.Module = nn.Linear(self.policy.head.in_features, 1).to(device)
        else:
            self.value = ValueNet(obs_space, cfg.network, cfg.hidden_sizes, cfg.activation).to(device)
        if cfg.ortho_init:
            # the A2C baselines' scheme: sqrt(2) in the torsos, a near-uniform initial policy, a unit-gain value head
            orthogonal_init(self.policy.torso)
            orthogonal_init(self.policy.head, gain=0.01)
            orthogonal_init(self.value, gain=1.0)
            if not cfg.shared_network:
                orthogonal_init(self.value.torso)
        self.params = [*self.policy.parameters(), *self.value.parameters()]
        groups = [{"params": list(self.policy.parameters())}, {"params": list(self.value.parameters())}]
        if cfg.value_lr is not None:
            groups[1]["lr"] = cfg.value_lr
        self.opt = make_optimizer(cfg, groups, cfg.lr, fused=True)

    @torch.no_grad()
    def nonfinite_parameters(self) -> list[str]:
        """One fused check per update (the per-tensor scan costs as much as a small update); names only on failure."""
        if torch.isfinite(torch.cat([p.reshape(-1) for p in self.params])).all():
            return []
        return super().nonfinite_parameters()

    def act(self, obs: np.ndarray | SparseFrames, explore: bool = True) -> np.ndarray:
        return self.policy_actions(self.policy, obs, explore)

    def _forward(self, obs: torch.Tensor, n_policy: int) -> tuple[torch.distributions.Distribution, torch.Tensor]:
        """pi(.|s) for the first ``n_policy`` rows of ``obs`` ``(B, ...)`` and V(s) ``(B,)`` for all of them."""
        if self.cfg.shared_network:
            features = self.policy.torso(obs)
            return self.policy.distribution_from_features(features[:n_policy]), self.value(features).squeeze(-1)
        return self.policy.distribution(obs[:n_policy]), self.value(obs)

    def rollout_obs(self, batch: Rollout) -> torch.Tensor:
        """``((T + 1) N, ...)``: obs[0..T-1] then next_obs[T-1]. NEXT_STEP autoreset makes obs[t+1] == next_obs[t] (at an
        episode's end both are its true final observation), so one forward pass gives V(s_t) and V(s_{t+1}) for every t."""
        T, N = batch.rewards.shape
        obs = np.concatenate([batch.obs, batch.next_obs[-1:]])
        return self.obs_tensor(obs).reshape((T + 1) * N, *obs.shape[2:])

    def advantages(self, batch: Rollout, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """GAE(lambda) advantages and the critic's targets ``(T, N)`` from V of :meth:`rollout_obs`, ``(T + 1, N)``."""
        cfg = self.cfg
        values, next_values = v[:-1], v[1:]
        rewards = batch.rewards.astype(np.float64) * cfg.reward_scale
        terminated = batch.terminated.astype(np.float64)
        dones = (batch.terminated | batch.truncated).astype(np.float64)
        adv = gae(rewards, values, next_values, terminated, dones, cfg.gamma, cfg.gae_lambda)
        if cfg.critic_target == CriticTarget.td:
            targets = td_targets(rewards, next_values, terminated, cfg.gamma)
        elif cfg.critic_target == CriticTarget.gae or cfg.gae_lambda == 1.0:
            targets = adv + values
        else:
            targets = gae(rewards, values, next_values, terminated, dones, cfg.gamma, 1.0) + values
        return adv, targets

    def update(self, batch: Rollout) -> dict[str, float]:
        """One gradient step on a ``(T, N)`` rollout; a rollout with no valid step (only autoresets) is skipped."""
        cfg = self.cfg
        valid = batch.valid
        if not valid.any():
            return {}
        T, N = batch.rewards.shape
        dist, values_all = self._forward(self.rollout_obs(batch), T * N)
        v = values_all.detach().view(T + 1, N).cpu().numpy().astype(np.float64)
        adv, targets = self.advantages(batch, v)

        mask = valid.reshape(-1)
        count = int(mask.sum())
        adv_v = adv.reshape(-1)[mask]
        if cfg.normalize_advantage and count > 1:
            adv_v = (adv_v - adv_v.mean()) / (adv_v.std() + 1e-8)
        mask_t = self.tensor(mask, dtype=torch.bool)
        # autoreset steps still hold a sampled action, so log pi is finite there before the mask drops it
        log_prob = dist.log_prob(self.tensor(batch.actions.reshape(T * N, *batch.actions.shape[2:])))[mask_t]
        entropy = dist.entropy()[mask_t].mean()
        policy_loss = -(log_prob * self.tensor(adv_v)).mean()
        value_loss = (values_all[: T * N][mask_t] - self.tensor(targets.reshape(-1)[mask])).pow(2).mean()
        loss = policy_loss + cfg.value_coef * value_loss - cfg.entropy_coef * entropy

        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = self.clip_grads(self.params)
        self.opt.step()
        self.updates += 1

        pred = v[:-1].reshape(-1)[mask]
        return {
            "loss/policy": policy_loss.item(),
            "loss/value": value_loss.item(),
            "loss/entropy": -cfg.entropy_coef * entropy.item(),
            "policy/entropy": entropy.item(),
            "policy/grad_norm": grad_norm,
            "value/mean": float(pred.mean()),
            "value/explained_variance": explained_variance(pred, targets.reshape(-1)[mask]),
        }
