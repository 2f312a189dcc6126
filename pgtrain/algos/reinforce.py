"""REINFORCE, the Monte-Carlo policy gradient, with every variant of the lecture.

Policy gradient theorem, estimated from E sampled episodes:

    grad J(theta) ~ 1/E sum_i sum_t grad log pi_theta(a_it | s_it) (Psi_it - b_it)

so the loss minimised is  L(theta) = -1/E sum_i sum_t log pi_theta(a_it | s_it) (Psi_it - b_it), where

- Psi_it = G(tau_i) = sum_t gamma^t r_it, the total episode return (``return_type=total``), or
  Psi_it = G_it = sum_{k>=t} gamma^(k-t) r_ik, the reward-to-go (``return_type=reward_to_go``: causality, an
  action cannot change rewards that came before it);
- b = 0 (``baseline=none``), the batch's mean return (``baseline=mean``: the mean over episodes of G(tau) for
  total returns, over all steps of G_t for reward-to-go), or V_phi(s_it) (``baseline=value``), a learned state value
  regressed on the Monte-Carlo returns: phi <- argmin sum (V_phi(s_it) - G_it)^2.
- With a value baseline, an episode cut by a time limit (not terminated) has its returns completed by
  gamma^(T-t) V_phi(s_T) (``bootstrap_truncated``), since the time limit is not part of the task.

``episodes_per_update=1`` is the lecture's stochastic, per-episode update; more is the batch estimate.

Gradient variance (logged as ``policy/grad_variance``): with g_i the gradient of episode i's term of L, the update's
gradient is the mean of the g_i, and we report the trace of its estimated covariance,
tr Cov(mean g) = 1/E * sum_p Var_i(g_ip) (unbiased sample variance over episodes, summed over parameters).
Reward-to-go and baselines lower this number: the lecture's central point, visible in TensorBoard.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import ClassVar

from pgtrain.config import AlgoConfig, DiscreteHead, check, check_at_least, check_positive

ACTION_TYPES = ("discrete", "continuous")  # the env action types it can drive


class ReturnType(str, Enum):
    """Which return weights log pi(a_t|s_t) in REINFORCE."""

    total = "total"  # G(tau) = sum_t gamma^t r_t for every step of the episode
    reward_to_go = "reward_to_go"  # G_t = sum_{k>=t} gamma^(k-t) r_k (causality)


class Baseline(str, Enum):
    """What REINFORCE subtracts from the return."""

    none = "none"
    mean = "mean"  # the batch's mean return, a constant
    value = "value"  # a learned V(s) regressed on the Monte-Carlo returns


@dataclass
class ReinforceConfig(AlgoConfig):
    """REINFORCE (Williams 1992; Sutton & Barto 2018, sections 13.3-13.4): the loss
    -1/E sum_i sum_t log pi(a_it|s_it) (Psi_it - b_it), with Psi and b chosen by the options below."""

    name: str = "reinforce"
    # ale-py's async mode (env.async_batch) hands back whichever envs finish first: only whole episodes can be learned from
    learns_from_whole_episodes: ClassVar[bool] = True
    lr: float = 0.015  # learning rate of the policy
    network: str = "mlp"  # torso: mlp, or cnn for image observations
    return_type: ReturnType = ReturnType.reward_to_go  # Psi: total episode return or reward-to-go
    baseline: Baseline = Baseline.value  # b: none | mean | value
    episodes_per_update: int = 6  # 1 = the lecture's per-episode stochastic update; more = the batch estimate
    normalize_advantage: bool = True  # standardise Psi - b over the batch (zero mean, unit std)
    entropy_coef: float = 0.0  # weight of the entropy bonus
    value_lr: float = 0.01  # learning rate of V(s) when baseline=value
    value_epochs: int = 1  # regression passes of V(s) over each batch
    discrete_head: DiscreteHead = DiscreteHead.softmax  # softmax, or sigmoid for two actions
    reset_return_on_reward: bool = False  # restart the discounted sum at every nonzero reward (Pong: every point)
    bootstrap_truncated: bool = True  # with baseline=value: add gamma^(T-t) V(s_T) to the returns of time-limit-cut episodes
    grad_variance_interval: int = 1  # estimate the gradient variance every this many updates (0 = never)

    def __post_init__(self) -> None:
        super().__post_init__()
        check_at_least("algo.episodes_per_update", self.episodes_per_update, 1)
        check_at_least("algo.entropy_coef", self.entropy_coef, 0.0)
        check_positive("algo.value_lr", self.value_lr)
        check_at_least("algo.value_epochs", self.value_epochs, 1)
        check_at_least("algo.grad_variance_interval", self.grad_variance_interval, 0)
        check(self.network in ("mlp", "cnn"), f"algo.network={self.network}: choose mlp or cnn")


# ---- end of the declaration; the algorithm below imports torch ----

import gymnasium as gym
import numpy as np
import torch

from pgtrain.algos.base import Algorithm
from pgtrain.batches import EpisodeBatch, SparseFrames
from pgtrain.fast.sparse import reads_sparse
from pgtrain.nets import Policy, ValueNet, make_optimizer
from pgtrain.returns import episode_returns


class Reinforce(Algorithm):
    name = "reinforce"
    collector = "episodes"

    def __init__(self, obs_space: gym.Space, action_space: gym.Space, cfg: ReinforceConfig, device: torch.device) -> None:
        super().__init__(obs_space, action_space, cfg, device)
        self.policy = Policy(obs_space, action_space, cfg.network, cfg.hidden_sizes, cfg.activation, cfg.discrete_head).to(device)
        self.policy_opt = make_optimizer(cfg, self.policy.parameters(), cfg.lr)
        self.state_attrs = ("policy", "policy_opt")
        if cfg.baseline == Baseline.value:
            self.value = ValueNet(obs_space, cfg.network, cfg.hidden_sizes, cfg.activation).to(device)
            self.value_opt = make_optimizer(cfg, self.value.parameters(), cfg.value_lr)
            self.state_attrs += ("value", "value_opt")
        self.sparse_obs = reads_sparse(self.policy.torso)  # the value net's torso is built alike

    def act(self, obs: np.ndarray | SparseFrames, explore: bool = True) -> np.ndarray:
        return self.policy_actions(self.policy, obs, explore)

    def update(self, batch: EpisodeBatch) -> dict[str, float]:
        cfg = self.cfg
        n_episodes = len(batch.lengths)
        obs = self.obs_tensor(batch.obs)
        metrics: dict[str, float] = {}
        last_values = self._truncation_values(batch)
        returns = lambda kind: episode_returns(  # noqa: E731
            batch.rewards, batch.lengths, cfg.gamma, kind, cfg.reset_return_on_reward, last_values
        )
        psi = returns(cfg.return_type.value)

        if cfg.baseline == Baseline.value:
            # V regresses on the Monte-Carlo reward-to-go whatever Psi is: it estimates E[G_t | s_t].
            mc = returns(ReturnType.reward_to_go.value)
            with torch.no_grad():
                baseline = self.value(obs).cpu().numpy()
            metrics["loss/value"] = self._fit_value(obs, self.tensor(mc))
        elif cfg.baseline == Baseline.mean:
            starts = np.cumsum(batch.lengths) - batch.lengths
            baseline = psi[starts].mean() if cfg.return_type == ReturnType.total else psi.mean()
        else:
            baseline = 0.0
        adv = psi - baseline
        if cfg.normalize_advantage and len(adv) > 1:
            adv = (adv - adv.mean()) / (adv.std() + 1e-8)
        adv_t = self.tensor(adv)

        dist = self.policy.distribution(obs)
        log_prob = dist.log_prob(self.tensor(batch.actions))
        entropy = dist.entropy()
        policy_loss = -(log_prob * adv_t).sum() / n_episodes
        entropy_loss = -cfg.entropy_coef * entropy.sum() / n_episodes
        self.updates += 1
        if cfg.grad_variance_interval and n_episodes > 1 and self.updates % cfg.grad_variance_interval == 0:
            metrics["policy/grad_variance"] = self._grad_variance(log_prob * adv_t, batch.lengths)
        self.policy_opt.zero_grad(set_to_none=True)
        (policy_loss + entropy_loss).backward()
        metrics["policy/grad_norm"] = self.clip_grads(self.policy.parameters())
        self.policy_opt.step()

        metrics.update(
            {
                "loss/policy": policy_loss.item(),
                "loss/entropy": entropy_loss.item(),
                "policy/entropy": entropy.mean().item(),
                "policy/mean_return_in_batch": float(batch.rewards.sum() / n_episodes),
            }
        )
        return metrics

    @torch.no_grad()
    def _truncation_values(self, batch: EpisodeBatch) -> np.ndarray | None:
        """V(s_T) for episodes cut by a time limit, 0 for terminated ones (``bootstrap_truncated`` with a value baseline).

        A time limit is not part of the MDP: without this, the last steps of every 500-step CartPole episode would look
        like bad actions (their reward-to-go shrinks only because the clock runs out, which the policy cannot see).
        """
        if self.cfg.baseline != Baseline.value or not self.cfg.bootstrap_truncated or batch.final_obs is None:
            return None
        return self.value(self.obs_tensor(batch.final_obs)).cpu().numpy() * (~batch.terminated)

    def _fit_value(self, obs: torch.Tensor, targets: torch.Tensor) -> float:
        """phi <- phi - value_lr * grad mean_t (V_phi(s_t) - G_t)^2, ``value_epochs`` times."""
        for _ in range(self.cfg.value_epochs):
            loss = (self.value(obs) - targets).pow(2).mean()
            self.value_opt.zero_grad(set_to_none=True)
            loss.backward()
            self.clip_grads(self.value.parameters())
            self.value_opt.step()
        return loss.item()

    def _grad_variance(self, weighted_log_prob: torch.Tensor, lengths: np.ndarray) -> float:
        """tr Cov of the batch-mean gradient: 1/E sum_p Var_i(g_ip), g_i = grad of -sum_t log pi * (Psi - b) over episode i."""
        params = [p for p in self.policy.parameters() if p.requires_grad]
        grads = []
        for chunk in torch.split(weighted_log_prob, lengths.tolist()):
            g = torch.autograd.grad(-chunk.sum(), params, retain_graph=True)
            grads.append(torch.cat([x.reshape(-1) for x in g]))
        per_episode = torch.stack(grads)  # (E, P)
        return float(per_episode.var(dim=0, unbiased=True).sum() / len(lengths))
