"""``(T, N)`` rollouts for A2C and the online actor-critic."""

from __future__ import annotations

from concurrent.futures import Executor

from gymnasium.vector import VectorEnv

from pgtrain.batches import Rollout, Transition, rollout
from pgtrain.collectors.base import Actor, Collector


class RolloutCollector(Collector):
    """Steps every env ``n_steps`` times and returns the ``(T, N)`` rollout."""

    def __init__(self, envs: VectorEnv, seed: int, n_steps: int, executor: Executor | None = None) -> None:
        super().__init__(envs, seed, executor)
        self.n_steps = n_steps

    def collect(self, algo: Actor) -> Rollout:
        steps: list[Transition] = []
        for _ in range(self.n_steps):
            self.send(algo.act(self.obs, explore=True))
            steps.append(self.receive())
        return rollout(steps)
