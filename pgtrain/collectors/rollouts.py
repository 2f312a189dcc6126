"""``(T, N)`` rollouts for A2C, PPO and the online actor-critic."""

from __future__ import annotations

from concurrent.futures import Executor
from typing import Any

from gymnasium.vector import VectorEnv

from pgtrain.batches import Rollout, Transition, rollout
from pgtrain.collectors.base import Actor, Collector
from pgtrain.envs.state import from_saved, to_saved


class RolloutCollector(Collector):
    """Steps every env ``n_steps`` times and returns the ``(T, N)`` rollout; a rollout cut by the budget is kept (and
    saved in checkpoints) until :meth:`partial_batch` hands it over or a resumed run completes it."""

    def __init__(self, envs: VectorEnv, seed: int, n_steps: int, executor: Executor | None = None) -> None:
        super().__init__(envs, seed, executor)
        self.n_steps = n_steps
        self.steps: list[Transition] = []  # the rollout so far

    def _keep(self, tr: Transition) -> Transition:
        self.steps.append(tr)
        return tr

    def collect(self, algo: Actor) -> Rollout | None:
        while len(self.steps) < self.n_steps:
            if self.env_steps >= self.limit:  # the budget is spent mid-rollout (see pgtrain.collectors)
                return None
            self.send(algo.act(self.obs, explore=True))
            self.receive()
        return self._take()

    def partial_batch(self) -> Rollout | None:
        """The rollout the budget cut short, ``(T', N)`` with ``T' < n_steps``: A2C and PPO learn from it as from a
        whole one (GAE over ``T'`` steps, bootstrapped from V of its last observations)."""
        return self._take() if self.steps else None

    def _take(self) -> Rollout:
        steps, self.steps = self.steps, []
        return rollout(steps)

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        if "env" in state and self.steps:
            state["rollout"] = [[to_saved(x) for x in tr] for tr in self.steps]
        return state

    def load_state_dict(self, state: dict[str, Any]) -> bool:
        if not super().load_state_dict(state):
            self.steps = []  # fresh episodes: the partial rollout no longer continues
            return False
        self.steps = [Transition(*(from_saved(x) for x in tr)) for tr in state.get("rollout", [])]
        return True
