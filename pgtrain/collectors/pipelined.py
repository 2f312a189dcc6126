"""Several env groups stepped in turn, so that the policy works while the emulators run."""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

from pgtrain.batches import Episode, EpisodeBatch, Rollout, Trajectory, Transition, episode_batch, rollout, side_by_side
from pgtrain.collectors.base import Actor, Collector
from pgtrain.collectors.episodes import EpisodeCollector
from pgtrain.collectors.rollouts import RolloutCollector


class PipelinedCollector:
    """Several env groups stepped in turn, so the policy works on one group while the others' emulators run.

    Each group is an :class:`EpisodeCollector` or a :class:`RolloutCollector` of its own vector env whose steps run
    in a background thread (ale-py and gymnasium's subprocess envs release the GIL while they step). The loop is
    ``receive(g); act(g); send(g)`` over the groups: while group ``g``'s emulators run, the main thread takes group
    ``g + 1``'s observations, runs the policy on them and stores the step. Episodes: the groups' last steps stay in
    flight across the update, so the emulators also run while it learns (as vectorised REINFORCE already lets running
    episodes cross updates). Rollouts: each group's ``n_steps`` are taken with the current policy and the batch is
    the groups' columns side by side; nothing crosses an update, A2C stays on-policy.

    Same interface as a :class:`Collector`: ``collect``, ``env_steps``, ``pop_finished``, ``state_dict``, ``close``.
    """

    def __init__(self, groups: list[EpisodeCollector] | list[RolloutCollector], executor: ThreadPoolExecutor) -> None:
        self.groups = groups
        self.executor = executor
        self.num_envs = sum(g.num_envs for g in groups)
        self.limit: float = math.inf  # the env-step budget, as a Collector's
        self.finished: list[Episode] = []

    @property
    def env_steps(self) -> int:
        return sum(g.env_steps for g in self.groups)

    @env_steps.setter
    def env_steps(self, value: int) -> None:
        """Spread a total over the groups (a checkpoint's ``group_steps`` then sets each exactly)."""
        share = value // len(self.groups)
        for g in self.groups:
            g.env_steps = share
        self.groups[0].env_steps += value - share * len(self.groups)

    def _receive(self, group: Collector) -> Transition:
        tr = group.receive()
        for episode in group.pop_finished():  # stamped with the run's env-step count, not the group's
            self.finished.append(replace(episode, env_step=self.env_steps))
        return tr

    def collect(self, algo: Actor) -> EpisodeBatch | Rollout | None:
        if isinstance(self.groups[0], EpisodeCollector):
            return self._episodes(algo)
        return self._rollout(algo)

    def _episodes(self, algo: Actor) -> EpisodeBatch | None:
        groups: list[EpisodeCollector] = self.groups  # type: ignore[assignment]
        wanted = groups[0].episodes
        while sum(len(g.ready) for g in groups) < wanted:
            if self.env_steps >= self.limit and all(g.pending is None for g in groups):
                return None  # the budget is spent: no step is started past it, the ones in flight were finished
            for g in groups:
                if g.pending is not None:
                    self._receive(g)
                if self.env_steps < self.limit:
                    g.send(algo.act(g.obs, explore=True))
        return episode_batch(self._take_episodes())

    def _take_episodes(self) -> list[Trajectory]:
        """Up to a batch of finished episodes, the first in group order; the rest wait in their group for the next."""
        groups: list[EpisodeCollector] = self.groups  # type: ignore[assignment]
        episodes: list[Trajectory] = []
        for g in groups:
            episodes += g.take(groups[0].episodes - len(episodes))
        return episodes

    def _rollout(self, algo: Actor) -> Rollout | None:
        groups: list[RolloutCollector] = self.groups  # type: ignore[assignment]
        n_steps = groups[0].n_steps
        # each group keeps its own steps (RolloutCollector._keep); every round finishes one step of each group. A budget
        # stop lets the steps in flight finish and starts no others, so a group sent its step before the budget was
        # spent may hold one step more than those after it (see partial_batch); a resume fills each to n_steps
        while any(len(g.steps) < n_steps for g in groups):
            if self.env_steps >= self.limit and all(g.pending is None for g in groups):
                return None
            for g in groups:
                if g.pending is not None:
                    self._receive(g)
                if len(g.steps) < n_steps and self.env_steps < self.limit and g.pending is None:
                    g.send(algo.act(g.obs, explore=True))
        return self._take_rollout(n_steps)

    def _take_rollout(self, length: int) -> Rollout:
        """The first ``length`` steps of every group as one ``(length, N)`` rollout; the groups then hold none."""
        steps = [g.steps[:length] for g in self.groups]  # type: ignore[union-attr]
        for g in self.groups:
            g.steps = []  # type: ignore[union-attr]
        # step t of every group side by side: the (N, ...) transition of all envs, then (T, N) as one collector gives
        return rollout([side_by_side(at_t) for at_t in zip(*steps, strict=True)])

    def partial_batch(self) -> EpisodeBatch | Rollout | None:
        """The batch the budget cut short, as each group's :meth:`~Collector.partial_batch`: up to a batch of the
        groups' finished episodes, or their rollouts side by side. The budget can stop a group one step after the
        others (the steps in flight finish); that step, the one the others lack, is dropped, so every column has the
        same ``T'`` steps."""
        self._drain()  # REINFORCE's steps stay in flight across updates: they are part of what was collected
        if isinstance(self.groups[0], EpisodeCollector):
            episodes = self._take_episodes()
            return episode_batch(episodes) if episodes else None
        length = min(len(g.steps) for g in self.groups)  # type: ignore[union-attr]
        return self._take_rollout(length) if length else None

    def pop_finished(self) -> list[Episode]:
        out, self.finished = self.finished, []
        return out

    def _drain(self) -> None:
        """Finish the steps in flight."""
        for g in self.groups:
            if g.pending is not None:
                self._receive(g)

    def state_dict(self) -> dict[str, Any]:
        self._drain()  # a step in flight is finished first, so the saved state is one consistent moment
        return {"groups": [g.state_dict() for g in self.groups], "group_steps": [g.env_steps for g in self.groups]}

    def load_state_dict(self, state: dict[str, Any]) -> bool:
        for g, steps in zip(self.groups, state.get("group_steps", []), strict=False):
            g.env_steps = int(steps)
        saved = state.get("groups") or [{} for _ in self.groups]
        if len(saved) != len(self.groups):
            saved = [{} for _ in self.groups]  # another env.pipeline_groups: fresh episodes everywhere
        return all([g.load_state_dict(s) for g, s in zip(self.groups, saved, strict=True)])

    def close(self) -> None:
        for g in self.groups:
            g.close()
        self.executor.shutdown(wait=True)
