"""PPO, proximal policy optimisation with the clipped surrogate objective (Schulman et al. 2017), as CleanRL's ppo.py.

Each ``(T, N)`` rollout (``num_envs`` envs, ``n_steps`` steps, collected as A2C's) is learnt from for ``n_epochs``
passes over shuffled minibatches of ``batch_size`` valid steps. With r_t(theta) = pi_theta(a_t|s_t) / pi_old(a_t|s_t)
(pi_old: the policy that collected the rollout) and GAE(lambda) advantages A_t (:func:`pgtrain.returns.gae`,
eq. 11-12 of the paper), each minibatch takes one gradient step on

    L = L^CLIP + value_coef L^VF - entropy_coef H[pi_theta]                                          (eq. 9)
    L^CLIP = -mean_t min(r_t A_t, clip(r_t, 1 - eps, 1 + eps) A_t)                                    (eq. 7)
    L^VF   = mean_t max((V(s_t) - y_t)^2, (V_old(s_t) + clip(V(s_t) - V_old(s_t), -eps, eps) - y_t)^2)

where y_t = A_t + V_old(s_t) (the lambda-return; ``critic_target``), the clipped term of L^VF only with
``clip_value_loss`` (the baselines' value clipping), A_t standardised per minibatch (``normalize_advantage``), and the
global gradient norm clipped to ``max_grad_norm``. ``anneal_lr``, ``anneal_clip_range`` and ``anneal_entropy`` decay the learning
rate, eps and entropy_coef linearly to 0 over the run's ``total_steps`` (:mod:`pgtrain.schedules` computes the factors,
the workspace sets them before each update). The epochs stop early once a minibatch's approximate
KL(pi_old || pi_theta), estimated as mean((r - 1) - log r) (Schulman's k3 estimator, as CleanRL), exceeds
``target_kl``. Discrete and continuous actions (a Gaussian with a state-independent log-std): the networks, the
options of the torso and the rollout maths are A2C's (:class:`pgtrain.algos.a2c.A2C`), only the update differs.
"""

from __future__ import annotations

from dataclasses import dataclass

from pgtrain.config import AlgoConfig, CriticTarget, DiscreteHead, check_actor_critic, check_at_least, check_positive

ACTION_TYPES = ("discrete", "continuous")  # the env action types it can drive


@dataclass
class PPOConfig(AlgoConfig):
    """PPO's clipped surrogate (Schulman et al. 2017, eq. 7) in the combined loss L^CLIP + c1 L^VF - c2 H (eq. 9) on
    GAE(lambda) advantages (eq. 11-12). Defaults: CleanRL's ppo.py (num_minibatches 4 -> batch_size 128)."""

    name: str = "ppo"
    num_envs: int = 4  # parallel envs
    lr: float = 2.5e-4  # learning rate (policy and value)
    network: str = "mlp"  # torso: mlp, or cnn for image observations
    max_grad_norm: float = 0.5  # clip the global gradient norm to this (0 = no clipping)
    n_steps: int = 128  # steps per env per rollout
    gae_lambda: float = 0.95  # GAE(lambda) of the advantages
    critic_target: CriticTarget = CriticTarget.gae  # value targets: gae (A + V, the lambda-return), mc or td
    value_coef: float = 0.5  # c1: weight of the value loss
    entropy_coef: float = 0.01  # c2: weight of the entropy bonus
    normalize_advantage: bool = True  # standardise the advantages of each minibatch
    shared_network: bool = False  # one torso for actor and critic, or two separate networks
    discrete_head: DiscreteHead = DiscreteHead.softmax  # softmax, or sigmoid for two actions
    ortho_init: bool = True  # orthogonal weights (gain sqrt 2; 0.01 on the policy head, 1 on the value head)
    log_std_init: float = 0.0  # initial log standard deviation of the Gaussian policy (continuous actions)
    reward_scale: float = 1.0  # multiply rewards by this inside the update
    value_lr: float | None = None  # learning rate of the critic's own parameters (null = lr, as CleanRL's single optimiser)
    n_epochs: int = 4  # passes over each rollout
    batch_size: int = 128  # transitions per minibatch (the valid steps of a rollout are shuffled and cut into these)
    clip_range: float = 0.2  # epsilon of the clipped surrogate: the ratio pi/pi_old is kept in [1 - eps, 1 + eps]
    clip_value_loss: bool = True  # clip V(s) to within clip_range of its rollout-time value in the value loss
    anneal_lr: bool = True  # decay the learning rates linearly to 0 over total_steps
    anneal_clip_range: bool = False  # decay clip_range linearly to 0 over total_steps
    anneal_entropy: bool = False  # decay entropy_coef linearly to 0 over total_steps
    target_kl: float | None = None  # stop a rollout's epochs once the approximate KL of a minibatch exceeds this (null = never)

    def __post_init__(self) -> None:
        super().__post_init__()
        check_actor_critic(self)
        check_at_least("algo.n_epochs", self.n_epochs, 1)
        check_at_least("algo.batch_size", self.batch_size, 1)
        check_positive("algo.clip_range", self.clip_range)
        if self.target_kl is not None:
            check_positive("algo.target_kl", self.target_kl)


# ---- end of the declaration; the algorithm below imports torch ----

import numpy as np
import torch

from pgtrain.algos.a2c import A2C
from pgtrain.batches import Rollout
from pgtrain.returns import explained_variance


def clipped_surrogate_loss(ratio: torch.Tensor, advantages: torch.Tensor, clip_range: float) -> torch.Tensor:
    """L^CLIP = -mean min(r A, clip(r, 1 - eps, 1 + eps) A) over a minibatch ``(B,)``."""
    clipped = ratio.clamp(1.0 - clip_range, 1.0 + clip_range)
    return -torch.min(ratio * advantages, clipped * advantages).mean()


def clipped_value_loss(values: torch.Tensor, old_values: torch.Tensor, targets: torch.Tensor, clip_range: float | None) -> torch.Tensor:
    """mean max((V - y)^2, (V_old + clip(V - V_old, -eps, eps) - y)^2); plain mean (V - y)^2 when ``clip_range`` is None."""
    loss = (values - targets).pow(2)
    if clip_range is None:
        return loss.mean()
    clipped = old_values + (values - old_values).clamp(-clip_range, clip_range)
    return torch.max(loss, (clipped - targets).pow(2)).mean()


def approx_kl(log_ratio: torch.Tensor) -> torch.Tensor:
    """KL(pi_old || pi) ~ mean((r - 1) - log r), r = exp(log_ratio): unbiased and never negative (Schulman's k3)."""
    return (log_ratio.exp() - 1.0 - log_ratio).mean()


class PPO(A2C):
    name = "ppo"

    def update(self, batch: Rollout) -> dict[str, float]:
        """``n_epochs`` passes of minibatch steps over one ``(T, N)`` rollout; one with no valid step is skipped."""
        cfg = self.cfg
        mask = batch.valid.reshape(-1)
        if not mask.any():
            return {}
        T, N = batch.rewards.shape
        clip = cfg.clip_range * self.factors.clip_range  # eps and the entropy weight now (the learning rates are set)
        entropy_coef = cfg.entropy_coef * self.factors.entropy_coef

        x = self.rollout_obs(batch)
        actions = self.tensor(batch.actions.reshape(T * N, *batch.actions.shape[2:]))
        with torch.no_grad():  # pi_old and V_old: the rollout's policy is still the current one
            dist, values_all = self._forward(x, T * N)
            old_log_prob = dist.log_prob(actions)
        v = values_all.view(T + 1, N).cpu().numpy().astype(np.float64)
        adv, targets = self.advantages(batch, v)
        rows = np.flatnonzero(mask)
        adv_t = self.tensor(adv.reshape(-1))
        targets_t = self.tensor(targets.reshape(-1))
        old_values = values_all[: T * N]

        stats: list[torch.Tensor] = []  # per minibatch: losses, entropy, KL, clip fraction (one .item() sync at the end)
        for _ in range(cfg.n_epochs):
            order = torch.from_numpy(rows)[torch.randperm(len(rows))]  # torch's RNG, seeded and checkpointed
            for start in range(0, len(rows), cfg.batch_size):
                mb = order[start : start + cfg.batch_size].to(self.device)
                stats.append(
                    self._minibatch_step(x[mb], actions[mb], old_log_prob[mb], old_values[mb], adv_t[mb], targets_t[mb], clip, entropy_coef)
                )
            if cfg.target_kl is not None and stats[-1][3].item() > cfg.target_kl:
                break

        policy_loss, value_loss, entropy, kl, clip_fraction = torch.stack(stats).mean(0).tolist()
        pred, y = v[:-1].reshape(-1)[mask], targets.reshape(-1)[mask]
        return {
            "loss/policy": policy_loss,
            "loss/value": value_loss,
            "policy/entropy": entropy,
            "policy/approx_kl": kl,
            "policy/clip_fraction": clip_fraction,
            "value/explained_variance": explained_variance(pred, y),
        }

    def _minibatch_step(
        self,
        obs: torch.Tensor,
        actions: torch.Tensor,
        old_log_prob: torch.Tensor,
        old_values: torch.Tensor,
        adv: torch.Tensor,
        targets: torch.Tensor,
        clip: float,
        entropy_coef: float,
    ) -> torch.Tensor:
        """One gradient step on a minibatch ``(B, ...)``; returns its policy and value losses, entropy, approximate KL
        and clip fraction ``(5,)``."""
        cfg = self.cfg
        dist, values = self._forward(obs, len(obs))
        log_ratio = dist.log_prob(actions) - old_log_prob
        ratio = log_ratio.exp()
        if cfg.normalize_advantage and len(adv) > 1:
            adv = (adv - adv.mean()) / (adv.std() + 1e-8)
        policy_loss = clipped_surrogate_loss(ratio, adv, clip)
        value_loss = clipped_value_loss(values, old_values, targets, clip if cfg.clip_value_loss else None)
        entropy = dist.entropy().mean()
        loss = policy_loss + cfg.value_coef * value_loss - entropy_coef * entropy

        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.clip_grads(self.params)
        self.opt.step()
        self.updates += 1

        with torch.no_grad():
            clip_fraction = ((ratio - 1.0).abs() > clip).float().mean()
            return torch.stack([policy_loss, value_loss, entropy, approx_kl(log_ratio), clip_fraction]).detach()
