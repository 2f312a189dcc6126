"""The collector every kind shares: it steps a vector env, counts env steps, gathers finished episodes' statistics
and saves and restores the envs' state."""

from __future__ import annotations

import math
from concurrent.futures import Executor, Future
from typing import Any, Protocol

import numpy as np
from gymnasium.vector import VectorEnv

from pgtrain.batches import Episode, SparseFrames, Transition
from pgtrain.envs import clip_actions
from pgtrain.envs.normalize import inner, load_normalization_state, normalization_state
from pgtrain.envs.state import env_state, from_saved, load_env_state, to_saved
from pgtrain.interrupts import atomic


class Actor(Protocol):
    def act(self, obs: np.ndarray | SparseFrames, explore: bool = True) -> np.ndarray: ...


class Collector:
    """Steps ``envs`` and keeps the counters and finished-episode statistics every collector shares.

    One step is two calls: :meth:`send` starts the vector step that takes ``actions`` in ``self.obs``, :meth:`receive`
    finishes it and returns its :class:`~pgtrain.batches.Transition`. With an ``executor`` the step runs in a thread
    in between, so the caller can work meanwhile (:class:`~pgtrain.collectors.PipelinedCollector`); without one,
    ``receive`` runs it. Each kind keeps what it needs of every step (:meth:`_keep`) and says what a batch is
    (:meth:`collect`).
    """

    def __init__(self, envs: VectorEnv, seed: int, executor: Executor | None = None) -> None:
        self.envs = envs
        self.num_envs = envs.num_envs
        self.seed = seed
        self.obs, info = envs.reset(seed=seed)
        self.ids = info.get("env_id")  # ale-py's async mode: the envs of the batch in hand
        envs.action_space.seed(seed)
        self.prev_done = np.zeros(self.num_envs, dtype=bool)
        self.env_steps = 0
        self.limit: float = math.inf  # the env-step budget (total_steps): collect() returns None once it is reached mid-batch
        self.finished: list[Episode] = []
        self.executor = executor
        self.pending: np.ndarray | None = None  # the actions of the step sent, not yet received
        self._future: Future | None = None  # the step running in the executor's thread
        self._env_actions: np.ndarray | None = None  # without an executor: what receive() steps the envs with

    def send(self, actions: np.ndarray) -> None:
        """Start the vector step that takes ``actions`` in ``self.obs``."""
        env_actions = clip_actions(self.envs.single_action_space, actions)
        with atomic():  # a step started is always one that receive() or drain() will finish
            if self.executor is not None:
                self._future = self.executor.submit(self.envs.step, env_actions)
            else:
                self._env_actions = env_actions
            self.pending = actions

    def receive(self) -> Transition:
        """Finish the step :meth:`send` started; advances ``self.obs``. ``valid`` is False for the envs whose step
        was only an autoreset. The waiting may be interrupted (nothing has changed then); the recording runs whole."""
        assert self.pending is not None, "receive() without send()"
        result = self._future.result() if self._future is not None else None  # the only wait
        with atomic():
            if result is None:
                result = self.envs.step(self._env_actions)
            tr = self._record(self.pending, result)
            self._future, self.pending = None, None
            return self._keep(tr)

    def drain(self) -> None:
        """Finish a step still in flight, so that the envs' state and the collector's agree."""
        if self.pending is not None:
            self.receive()

    def _record(self, actions: np.ndarray, result: Any) -> Transition:
        """Count the step's env steps and finished episodes, advance ``self.obs``; the step as a transition."""
        next_obs, rewards, terminated, truncated, info = result
        valid = ~self.prev_done
        self.env_steps += int(valid.sum())
        if "_episode" in info:
            for i in np.flatnonzero(info["_episode"]):
                self.finished.append(Episode(float(info["episode"]["r"][i]), int(info["episode"]["l"][i]), self.env_steps))
        self.prev_done = terminated | truncated
        tr = Transition(self.obs, actions, rewards, next_obs, terminated, truncated, valid)
        self.obs = next_obs
        return tr

    def _keep(self, tr: Transition) -> Transition:
        """What a subclass keeps of each step (inside the same uninterrupted block as the recording)."""
        return tr

    def close(self) -> None:
        if self._future is not None:
            self._future.exception()  # wait for the step in flight; its result no longer matters
            self._future = None
        self.envs.close()

    def pop_finished(self) -> list[Episode]:
        out, self.finished = self.finished, []
        return out

    def collect(self, algo: Any) -> Any:
        raise NotImplementedError

    def partial_batch(self) -> Any:
        """What this collector holds of a batch the budget cut short, as :meth:`collect` would hand it over, and
        forgets it; None when it holds nothing to learn from. The workspace calls it once, when the budget is spent.
        Here: None (a collector whose every vector step is a batch, DDPG's, never holds a partial one)."""
        return None

    def state_dict(self) -> dict[str, Any]:
        """The envs' state (see :mod:`pgtrain.envs.state`), the current observations and autoreset flags, so a resumed
        run continues the running episodes exactly; subclasses add what they hold (partial episodes, a replay buffer)."""
        self.drain()
        norm = normalization_state(self.envs)  # saved whatever the env: evaluation and resumes need the statistics
        state: dict[str, Any] = {} if norm is None else {"normalization": norm}
        env = env_state(inner(self.envs))
        if env is None:
            return state
        return {**state, "env": env, "obs": to_saved(self.obs), "prev_done": to_saved(self.prev_done)}

    def load_state_dict(self, state: dict[str, Any]) -> bool:
        """Restore :meth:`state_dict`; returns whether the running episodes continue (False: fresh episodes began,
        seeded with ``seed + env_steps`` so they differ from the run's first ones)."""
        if "normalization" in state:
            load_normalization_state(self.envs, state["normalization"])
        if "env" in state and env_state(inner(self.envs)) is not None:
            load_env_state(inner(self.envs), state["env"])
            self.obs = from_saved(state["obs"])
            self.prev_done = from_saved(state["prev_done"])
            return True
        self.obs, _ = self.envs.reset(seed=self.seed + self.env_steps)
        self.envs.action_space.seed(self.seed + self.env_steps)
        self.prev_done = np.zeros(self.num_envs, dtype=bool)
        return False
