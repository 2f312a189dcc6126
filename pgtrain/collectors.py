"""Collectors step the vector env with an algorithm's policy and hand back the batch its ``update`` learns from.

- :class:`EpisodeCollector` returns whole episodes (REINFORCE);
- :class:`RolloutCollector` returns ``(T, N)`` rollouts of ``n_steps`` per env (A2C and the online actor-critic);
- :class:`ReplayCollector` feeds a replay buffer and hands it over once learning starts (DDPG).

Every collector stops at its budget, ``limit`` env steps (the workspace sets it to ``total_steps``): ``collect`` then
returns None with the batch unfinished, and what it holds of it (finished episodes, a partial rollout) stays for the
next ``collect`` and in checkpoints, so a resumed run with a larger budget completes that batch exactly as an
uninterrupted run would have.

All envs use NEXT_STEP autoreset (see :mod:`pgtrain.envs`): the step after an episode ends only resets that env, so
its transition is not real; collectors mark it invalid and do not count it as an env step.
"""

from __future__ import annotations

import math
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any, NamedTuple, Protocol

import gymnasium as gym
import numpy as np
from gymnasium.vector import VectorEnv

from pgtrain.envs.state import env_state, from_saved, load_env_state, to_saved
from pgtrain.interrupts import atomic


class Actor(Protocol):
    def act(self, obs: np.ndarray, explore: bool = True) -> np.ndarray: ...


class Transition(NamedTuple):
    """One vector step: ``(N, ...)`` arrays."""

    obs: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    next_obs: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    valid: np.ndarray


@dataclass
class Episode:
    """A finished training episode, for logging."""

    ret: float
    length: int
    env_step: int  # the env-step counter when it ended


class Collector:
    """Steps ``envs`` and keeps the counters and finished-episode statistics every collector shares."""

    def __init__(self, envs: VectorEnv, seed: int, executor: Executor | None = None) -> None:
        self.envs = envs
        self.num_envs = envs.num_envs
        self.seed = seed
        self.obs, info = envs.reset(seed=seed)
        self.ids = info.get("env_id")  # ale-py's async mode: the envs of the batch in hand
        envs.action_space.seed(seed)
        self.prev_done = np.zeros(self.num_envs, dtype=bool)
        space = envs.single_action_space
        # Gaussian samples may leave the action box: the env gets them clipped, the algorithm keeps them as sampled.
        self.bounds = (space.low, space.high) if isinstance(space, gym.spaces.Box) else None
        self.env_steps = 0
        self.limit: float = math.inf  # the env-step budget: collect() returns None once it is reached mid-batch
        self.finished: list[Episode] = []
        # Split-phase stepping (see PipelinedCollector): with an executor, send() starts the vector step in a thread
        # and receive() waits for it; without one, receive() runs it.
        self.executor = executor
        self.pending: tuple[np.ndarray, np.ndarray] | None = None  # (obs, actions) of the step sent, not yet received
        self._future: Future | None = None
        self._env_actions: np.ndarray | None = None

    def send(self, obs: np.ndarray, actions: np.ndarray) -> None:
        """Start the vector step that takes ``actions`` in ``obs``."""
        env_actions = actions if self.bounds is None else np.clip(actions, *self.bounds)
        with atomic():  # a step started is always one that receive() or drain() will finish
            if self.executor is not None:
                self._future = self.executor.submit(self.envs.step, env_actions)
            else:
                self._env_actions = env_actions
            self.pending = (obs, actions)

    def receive(self) -> Transition:
        """Finish the step :meth:`send` started; advances ``self.obs``. ``valid`` is False for the envs whose step
        was only an autoreset. The waiting may be interrupted (nothing has changed then); the recording runs whole."""
        assert self.pending is not None, "receive() without send()"
        result = self._future.result() if self._future is not None else None  # the only wait
        with atomic():
            return self._keep(self._record(result))

    def _record(self, result: Any) -> Transition:
        obs, actions = self.pending  # type: ignore[misc]
        if result is None:
            result = self.envs.step(self._env_actions)
        self._future, self.pending = None, None
        next_obs, rewards, terminated, truncated, info = result
        valid = ~self.prev_done
        self.env_steps += int(valid.sum())
        if "_episode" in info:
            for i in np.flatnonzero(info["_episode"]):
                self.finished.append(Episode(float(info["episode"]["r"][i]), int(info["episode"]["l"][i]), self.env_steps))
        self.prev_done = terminated | truncated
        self.obs = next_obs
        return Transition(obs, actions, rewards, next_obs, terminated, truncated, valid)

    def _keep(self, tr: Transition) -> Transition:
        """What a subclass keeps of each step (inside the same uninterrupted block as the recording)."""
        return tr

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """One vector step from ``self.obs``; returns ``(next_obs, rewards, terminated, truncated, valid)``."""
        self.send(self.obs, actions)
        t = self.receive()
        return t.next_obs, t.rewards, t.terminated, t.truncated, t.valid

    def begin(self, algo: Actor) -> None:
        """Choose actions for ``self.obs`` with the policy and start the step."""
        self.send(self.obs, algo.act(self.obs, explore=True))

    def finish(self) -> Transition:
        """Receive the step :meth:`begin` started and keep what the collector keeps of it."""
        return self.receive()

    def drain(self) -> None:
        """Finish a step still in flight, so that the envs' state and the collector's agree."""
        if self.pending is not None:
            self.finish()

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

    def state_dict(self) -> dict[str, Any]:
        """The envs' state (see :mod:`pgtrain.envs.state`), the current observations and autoreset flags, so a resumed
        run continues the running episodes exactly; subclasses add what they hold (partial episodes, a replay buffer)."""
        self.drain()
        env = env_state(self.envs)
        if env is None:
            return {}
        return {"env": env, "obs": to_saved(self.obs), "prev_done": to_saved(self.prev_done)}

    def load_state_dict(self, state: dict[str, Any]) -> bool:
        """Restore :meth:`state_dict`; returns whether the running episodes continue (False: fresh episodes began,
        seeded with ``seed + env_steps`` so they differ from the run's first ones)."""
        if "env" in state and env_state(self.envs) is not None:
            load_env_state(self.envs, state["env"])
            self.obs = from_saved(state["obs"])
            self.prev_done = from_saved(state["prev_done"])
            return True
        self.obs, _ = self.envs.reset(seed=self.seed + self.env_steps)
        self.envs.action_space.seed(self.seed + self.env_steps)
        self.prev_done = np.zeros(self.num_envs, dtype=bool)
        return False


@dataclass
class EpisodeBatch:
    """Whole episodes laid end to end: ``obs`` ``(sum(lengths), *obs_shape)``, ``actions`` ``(sum(lengths), ...)``,
    ``rewards`` ``(sum(lengths),)``; ``lengths`` ``(E,)``; ``terminated`` ``(E,)`` (False = cut by a time limit);
    ``final_obs`` ``(E, *obs_shape)``, the observation each episode ended in (to bootstrap truncated ones)."""

    obs: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    lengths: np.ndarray
    terminated: np.ndarray
    final_obs: np.ndarray | None = None


class EpisodeCollector(Collector):
    """Runs the envs until ``episodes`` whole episodes have finished and returns them.

    Per-step data goes into growable ``(time, env)`` arrays; an episode is the slice of its env's column from its
    first step to its last, so no per-env Python work happens in the step loop. Episodes still running when a batch
    is handed over keep going after the update (their early steps came from the previous policy: the usual,
    small, staleness of vectorised REINFORCE).
    """

    def __init__(self, envs: VectorEnv, seed: int, episodes: int, executor: Executor | None = None) -> None:
        super().__init__(envs, seed, executor)
        self.episodes = episodes
        self.capacity = 1024
        self.base = 0  # absolute step index of row 0 of the buffers
        self.t = 0  # absolute index of the next step
        self.start = np.zeros(self.num_envs, dtype=np.int64)  # absolute step at which each env's episode began
        self.buf_obs: np.ndarray | None = None
        self.buf_act: np.ndarray | None = None
        self.buf_rew = np.zeros((self.capacity, self.num_envs), dtype=np.float32)
        self.ready: list[tuple[np.ndarray, np.ndarray, np.ndarray, bool, np.ndarray]] = []

    def _store(self, obs: np.ndarray, actions: np.ndarray, rewards: np.ndarray) -> None:
        if self.buf_obs is None:
            self.buf_obs = np.zeros((self.capacity, *obs.shape), dtype=obs.dtype)
            self.buf_act = np.zeros((self.capacity, *actions.shape), dtype=actions.dtype)
        row = self.t - self.base
        if row == self.capacity:
            self._compact()  # only when full: each compaction moves at most the rows still needed, amortised O(1)
            row = self.t - self.base
            if row > self.capacity // 2:
                self._grow()
        self.buf_obs[row] = obs
        self.buf_act[row] = actions
        self.buf_rew[row] = rewards

    def _grow(self) -> None:
        self.capacity *= 2
        for name in self._BUFFERS:
            old = getattr(self, name)
            new = np.zeros((self.capacity, *old.shape[1:]), dtype=old.dtype)
            new[: len(old)] = old
            setattr(self, name, new)

    def _compact(self) -> None:
        """Drop the rows older than every running episode's first step."""
        keep_from = int(self.start.min()) - self.base
        if keep_from <= 0:
            return
        used = self.t - self.base
        for buf in (getattr(self, name) for name in self._BUFFERS):
            buf[: used - keep_from] = buf[keep_from:used]
        self.base += keep_from

    _BUFFERS = ("buf_obs", "buf_act", "buf_rew")

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        if state and self.buf_obs is not None:
            self._compact()  # save only the rows the running episodes still need
            used = self.t - self.base
            state["episodes"] = {
                **{name: to_saved(getattr(self, name)[:used]) for name in self._BUFFERS},
                "base": self.base,
                "t": self.t,
                "start": to_saved(self.start),
                "ready": [[to_saved(x) if isinstance(x, np.ndarray) else x for x in episode] for episode in self.ready],
            }
        return state

    def load_state_dict(self, state: dict[str, Any]) -> bool:
        if not super().load_state_dict(state):
            self.start[:] = self.t  # fresh episodes everywhere; finished ones waiting in ``ready`` are dropped
            self.ready = []
            return False
        if "episodes" in state:
            saved = state["episodes"]
            self.base, self.t = int(saved["base"]), int(saved["t"])
            self.start = from_saved(saved["start"])
            for name in self._BUFFERS:
                rows = from_saved(saved[name])
                self.capacity = max(self.capacity, len(rows))
                buf = np.zeros((self.capacity, *rows.shape[1:]), dtype=rows.dtype)
                buf[: len(rows)] = rows
                setattr(self, name, buf)
            self.ready = [tuple(from_saved(x) for x in episode) for episode in saved["ready"]]
        return True

    def _keep(self, tr: Transition) -> Transition:
        self._store(tr.obs, tr.actions, tr.rewards)
        self.start[~tr.valid] = self.t + 1  # an autoreset step: the new episode starts at the next step
        for i in np.flatnonzero((tr.terminated | tr.truncated) & tr.valid):
            rows = slice(int(self.start[i]) - self.base, self.t + 1 - self.base)
            self.ready.append(
                (
                    self.buf_obs[rows, i].copy(),
                    self.buf_act[rows, i].copy(),
                    self.buf_rew[rows, i].copy(),
                    bool(tr.terminated[i]),
                    tr.next_obs[i].copy(),
                )
            )
        self.t += 1
        return tr

    def collect(self, algo: Actor) -> EpisodeBatch | None:
        while len(self.ready) < self.episodes:
            if self.env_steps >= self.limit:  # the budget is spent: the finished episodes wait (see the module doc)
                return None
            self.begin(algo)
            self.finish()
        episodes, self.ready = self.ready[: self.episodes], self.ready[self.episodes :]
        return episode_batch(episodes)


class AsyncEpisodeCollector(EpisodeCollector):
    """Whole episodes from ale-py's async mode (``env.async_batch``, envpool's scheme).

    Each vector step sends the actions of the batch in hand and returns the first ``B`` envs to finish a step, named
    by ``info["env_id"]``, while the other envs' emulators keep running: the emulator threads never wait for the
    policy. An env's step result comes back in a later batch than the one its action was chosen in, so the collector
    keeps each env's observation and action until then (``sent_obs``, ``sent_act``). Buffer rows are batches and
    ``buf_ids`` names each column's env; an episode is gathered, when it ends, from the rows where its env appears
    since the episode began (one vectorised lookup). Envs returned without an action outstanding (their first frame
    after the reset) or after their episode ended (the autoreset step) carry no transition. Episode returns and lengths
    are summed here: gymnasium's episode statistics wrapper needs lockstep batches.
    """

    _BUFFERS = ("buf_obs", "buf_act", "buf_rew", "buf_ids")

    def __init__(self, envs: VectorEnv, seed: int, episodes: int) -> None:
        super().__init__(envs, seed, episodes)
        batch = envs.unwrapped.batch_size
        self.buf_rew = np.zeros((self.capacity, batch), dtype=np.float32)
        self.buf_ids = np.zeros((self.capacity, batch), dtype=np.int32)
        self.sent_obs: np.ndarray | None = None
        self.sent_act: np.ndarray | None = None
        self.outstanding = np.zeros(self.num_envs, dtype=bool)

    def send(self, obs: np.ndarray, actions: np.ndarray) -> None:
        if self.sent_obs is None:
            self.sent_obs = np.zeros((self.num_envs, *obs.shape[1:]), dtype=obs.dtype)
            self.sent_act = np.zeros((self.num_envs, *actions.shape[1:]), dtype=actions.dtype)
        with atomic():
            self.sent_obs[self.ids] = obs
            self.sent_act[self.ids] = actions  # type: ignore[index]
            self.outstanding[self.ids] = True
            super().send(obs, actions)

    def _record(self, result: Any) -> Transition:
        if result is None:
            result = self.envs.step(self._env_actions)
        self._future, self.pending = None, None
        next_obs, rewards, terminated, truncated, info = result
        ids = info["env_id"]
        valid = self.outstanding[ids] & ~self.prev_done[ids]
        self.env_steps += int(valid.sum())
        tr = Transition(self.sent_obs[ids], self.sent_act[ids], rewards, next_obs, terminated, truncated, valid)  # type: ignore[index]
        self.outstanding[ids] = False
        self.prev_done[ids] = terminated | truncated
        self.obs, self.ids = next_obs, ids
        return tr

    def _keep(self, tr: Transition) -> Transition:
        ids = self.ids
        self._store(tr.obs, tr.actions, tr.rewards)
        self.buf_ids[self.t - self.base] = ids
        self.start[ids[~tr.valid]] = self.t + 1  # no transition: the env's episode starts at its next step
        for k in np.flatnonzero((tr.terminated | tr.truncated) & tr.valid):
            first = int(self.start[ids[k]]) - self.base
            rows, cols = np.nonzero(self.buf_ids[first : self.t + 1 - self.base] == ids[k])
            rows += first
            rewards = self.buf_rew[rows, cols]
            self.ready.append((self.buf_obs[rows, cols], self.buf_act[rows, cols], rewards, bool(tr.terminated[k]), tr.next_obs[k].copy()))
            self.finished.append(Episode(float(rewards.sum()), len(rewards), self.env_steps))
        self.t += 1
        return tr

    def load_state_dict(self, state: dict[str, Any]) -> bool:
        """ale-py's emulator state cannot be saved, and a second reset would queue a second result for every env
        still stepping: a resumed run keeps the fresh episodes this collector began with."""
        self.start[:] = self.t
        return False


def episode_batch(episodes: list[tuple[np.ndarray, np.ndarray, np.ndarray, bool, np.ndarray]]) -> EpisodeBatch:
    """Lay whole episodes ``(obs, actions, rewards, terminated, final_obs)`` end to end."""
    return EpisodeBatch(
            obs=np.concatenate([e[0] for e in episodes]),
        actions=np.concatenate([e[1] for e in episodes]),
        rewards=np.concatenate([e[2] for e in episodes]),
        lengths=np.array([len(e[2]) for e in episodes]),
        terminated=np.array([e[3] for e in episodes]),
        final_obs=np.stack([e[4] for e in episodes]),
    )


@dataclass
class Rollout:
    """``n_steps`` of every env. ``obs`` ``(T, N, *obs_shape)``; ``next_obs`` the observation each step returned
    (the true final observation where an episode ended); ``actions``, ``rewards``, ``terminated``, ``truncated``,
    ``valid`` ``(T, N, ...)``; ``valid`` is False on autoreset steps, which carry no transition."""

    obs: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    next_obs: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    valid: np.ndarray


class RolloutCollector(Collector):
    """Steps every env ``n_steps`` times and returns the ``(T, N)`` rollout."""

    def __init__(self, envs: VectorEnv, seed: int, n_steps: int, executor: Executor | None = None) -> None:
        super().__init__(envs, seed, executor)
        self.n_steps = n_steps
        self.steps: list[Transition] = []  # the rollout so far: kept across a budget stop and in checkpoints

    def _keep(self, tr: Transition) -> Transition:
        self.steps.append(tr)
        return tr

    def collect(self, algo: Actor) -> Rollout | None:
        while len(self.steps) < self.n_steps:
            if self.env_steps >= self.limit:  # the budget is spent mid-rollout (see the module doc)
                return None
            self.begin(algo)
            self.finish()
        steps, self.steps = self.steps, []
        return rollout(steps)

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        if state and self.steps:
            state["rollout"] = [[to_saved(x) for x in tr] for tr in self.steps]
        return state

    def load_state_dict(self, state: dict[str, Any]) -> bool:
        if not super().load_state_dict(state):
            self.steps = []  # fresh episodes: the partial rollout no longer continues
            return False
        self.steps = [Transition(*(from_saved(x) for x in tr)) for tr in state.get("rollout", [])]
        return True


def rollout(steps: list[Transition]) -> Rollout:
    """Stack ``T`` vector steps into a ``(T, N)`` :class:`Rollout`."""
    return Rollout(*(np.stack(column) for column in zip(*steps, strict=True)))


class ReplayCollector(Collector):
    """Steps every env once per :meth:`collect` and feeds a :class:`~pgtrain.buffers.ReplayBuffer` (DDPG).

    For the first ``learning_starts`` env steps actions are drawn uniformly from the action space; after that the
    algorithm chooses them with ``act(explore=True)`` (its exploration noise included). Only valid transitions are
    stored, with the true final observation as ``s'`` and ``terminated`` (not truncated) as the done flag. Returns the
    buffer once it holds ``max(learning_starts, batch_size)`` transitions, else None; the algorithm samples from it.
    """

    def __init__(self, envs: VectorEnv, seed: int, cfg: Any) -> None:
        from pgtrain.buffers import ReplayBuffer

        super().__init__(envs, seed)
        self.learning_starts = cfg.learning_starts
        self.min_size = min(max(cfg.learning_starts, cfg.batch_size), cfg.buffer_size)
        self.save_buffer = cfg.save_buffer
        obs_space, act_space = envs.single_observation_space, envs.single_action_space
        self.buffer = ReplayBuffer(cfg.buffer_size, obs_space.shape, act_space.shape, obs_space.dtype, np.float32)

    def collect(self, algo: Actor) -> Any:
        obs = self.obs
        if self.env_steps < self.learning_starts:
            actions = self.envs.action_space.sample().astype(np.float32)
        else:
            actions = algo.act(obs, explore=True)
        _, _, terminated, truncated, valid = self.step(actions)
        ended = (terminated | truncated) & valid
        if ended.any() and hasattr(algo, "reset_noise"):
            algo.reset_noise(ended)  # temporally correlated (OU) noise restarts with each episode
        return self.buffer if len(self.buffer) >= self.min_size else None

    def _keep(self, tr: Transition) -> Transition:
        if tr.valid.all():
            self.buffer.add(tr.obs, tr.actions, tr.rewards, tr.next_obs, tr.terminated)
        else:
            v = tr.valid
            self.buffer.add(tr.obs[v], tr.actions[v], tr.rewards[v], tr.next_obs[v], tr.terminated[v])
        return tr

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        if self.save_buffer:
            state["replay_buffer"] = self.buffer.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> bool:
        if "replay_buffer" in state:
            self.buffer.load_state_dict(state["replay_buffer"])
        return super().load_state_dict(state)


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

    def _finish(self, group: Collector) -> Transition:
        tr = group.finish()
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
                    self._finish(g)
                if self.env_steps < self.limit:
                    g.begin(algo)
        episodes: list[Any] = []
        for g in groups:  # the first ``wanted`` in group order; the rest wait in their group for the next batch
            take = wanted - len(episodes)
            episodes += g.ready[:take]
            g.ready = g.ready[take:]
        return episode_batch(episodes)

    def _rollout(self, algo: Actor) -> Rollout | None:
        groups: list[RolloutCollector] = self.groups  # type: ignore[assignment]
        n_steps = groups[0].n_steps
        # each group keeps its own steps (RolloutCollector._keep); they stay aligned: every round finishes one step of
        # each group, and a budget stop lets the steps in flight finish and starts no others
        while any(len(g.steps) < n_steps for g in groups):
            if self.env_steps >= self.limit and all(g.pending is None for g in groups):
                return None
            for g in groups:
                if g.pending is not None:
                    self._finish(g)
                if len(g.steps) < n_steps and self.env_steps < self.limit and g.pending is None:
                    g.begin(algo)
        steps = [g.steps for g in groups]
        for g in groups:
            g.steps = []
        # step t of every group side by side: the (N, ...) transition of all envs, then (T, N) as one collector gives
        return rollout([Transition(*map(np.concatenate, zip(*at_t, strict=True))) for at_t in zip(*steps, strict=True)])

    def pop_finished(self) -> list[Episode]:
        out, self.finished = self.finished, []
        return out

    def state_dict(self) -> dict[str, Any]:
        for g in self.groups:  # a step in flight is finished first, so the saved state is one consistent moment
            if g.pending is not None:
                self._finish(g)
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


def evaluate(algo: Actor, env_cfg: Any, episodes: int, seed: int, explore: bool = False) -> list[float]:
    """Returns of ``episodes`` episodes played with deterministic actions (``explore=False``), one per env copy."""
    from pgtrain.envs import make_vec_env

    if getattr(env_cfg, "async_batch", 0):
        env_cfg = replace(env_cfg, async_batch=0)  # every episode in lockstep
    envs = make_vec_env(env_cfg, episodes)
    try:
        obs, _ = envs.reset(seed=seed)
        returns = np.zeros(episodes)
        running = np.ones(episodes, dtype=bool)
        space = envs.single_action_space
        while running.any():
            actions = algo.act(obs, explore=explore)
            if isinstance(space, gym.spaces.Box):
                actions = np.clip(actions, space.low, space.high)
            obs, rewards, terminated, truncated, _ = envs.step(actions)
            returns += rewards * running
            running &= ~(terminated | truncated)
        return returns.tolist()
    finally:
        envs.close()
