"""What the replay-based actor-critics (DDPG, TD3, SAC) share: minibatches from the replay buffer, the critic's
regression step, Polyak averaging of target networks and a fused finiteness check.

The collector (:class:`pgtrain.collectors.ReplayCollector`) fills the buffer (:class:`pgtrain.buffers.ReplayBuffer`);
each :meth:`OffPolicy.update` makes ``gradient_steps`` gradient steps, each on a fresh uniform minibatch (normalised
by the buffer with the current statistics where the env normalises observations or rewards).
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from pgtrain.algos.base import Algorithm
from pgtrain.buffers import ReplayBatch, ReplayBuffer
from pgtrain.nets import QCritic


def polyak_update(target: nn.Module | list[torch.Tensor], source: nn.Module | list[torch.Tensor], tau: float) -> None:
    """target <- tau * source + (1 - tau) * target, parameter by parameter (modules or matching parameter lists)."""
    targets = list(target.parameters()) if isinstance(target, nn.Module) else target
    sources = list(source.parameters()) if isinstance(source, nn.Module) else source
    with torch.no_grad():
        torch._foreach_lerp_(targets, sources, tau)


class OffPolicy(Algorithm):
    """A replay-based actor-critic: subclasses build ``critic``, ``critic_opt``, ``online_params``/``target_params``
    (for Polyak averaging) and implement :meth:`gradient_step`."""

    collector = "replay"
    critic_class: ClassVar[type[nn.Module]] = QCritic  # the critic's network: TwinQCritic for twin critics (TD3, SAC)
    critic: nn.Module
    critic_opt: torch.optim.Optimizer
    online_params: list[torch.Tensor]
    target_params: list[torch.Tensor]

    def update(self, batch: ReplayBuffer) -> dict[str, float]:
        """``gradient_steps`` gradient steps, each on a fresh uniform minibatch from the replay buffer."""
        metrics: dict[str, float] = {}
        for _ in range(self.cfg.gradient_steps):
            metrics = self.gradient_step(batch.sample(self.cfg.batch_size))
        return metrics

    def gradient_step(self, b: ReplayBatch) -> dict[str, float]:
        raise NotImplementedError

    def batch_tensors(self, b: ReplayBatch) -> tuple[torch.Tensor, ...]:
        """``(obs, actions, rewards, next_obs, terminated)`` of a minibatch as tensors on the device."""
        return tuple(self.tensor(x) for x in (b.obs, b.actions, b.rewards, b.next_obs, b.terminated))

    def critic_step(self, obs: torch.Tensor, actions: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One step of the critic(s) on sum_i 1/B sum (Q_i(s, a) - y)^2; returns the loss and Q ``(B,)`` or ``(2, B)``."""
        q = self.critic(obs, actions)
        loss = (q - y).pow(2).mean(-1).sum()
        self.critic_opt.zero_grad(set_to_none=True)
        loss.backward()
        if self.cfg.max_grad_norm > 0:
            self.clip_grads(self.critic.parameters())
        self.critic_opt.step()
        return loss, q

    def update_targets(self) -> None:
        polyak_update(self.target_params, self.online_params, self.cfg.tau)

    def nonfinite_parameters(self) -> list[str]:
        """One fused check of every network per update (a per-tensor scan costs a sixth of a gradient step).

        A NaN or inf makes its tensor's norm non-finite; only then are the tensors scanned one by one for names.
        """
        params = [p for name in self.state_attrs if isinstance(getattr(self, name), nn.Module) for p in getattr(self, name).parameters()]
        if torch.stack(torch._foreach_norm(params)).isfinite().all():
            return []
        return super().nonfinite_parameters()
