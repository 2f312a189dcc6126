"""Whole episodes for REINFORCE: in lockstep (:class:`EpisodeCollector`) or from ale-py's async mode
(:class:`AsyncEpisodeCollector`)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

import numpy as np
from gymnasium.vector import VectorEnv

from pgtrain.batches import INT16_COLUMNS, Episode, EpisodeBatch, SparseFrames, Trajectory, Transition, episode_batch
from pgtrain.collectors.base import Actor, Collector
from pgtrain.envs.state import from_saved, to_saved
from pgtrain.interrupts import atomic


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
        self.ready: list[Trajectory] = []  # finished episodes not handed over yet
        self._envs = np.arange(self.num_envs)

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
        if "env" in state and self.buf_obs is not None:
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
            self.ready = [Trajectory(*(from_saved(x) for x in episode)) for episode in saved["ready"]]
        return True

    def _keep(self, tr: Transition) -> Transition:
        """Store the step; an episode that ends here goes to ``ready``, gathered from the rows since it began."""
        envs = self._columns()
        self._store(tr.obs, tr.actions, tr.rewards)
        self.start[envs[~tr.valid]] = self.t + 1  # an autoreset step: the new episode starts at the env's next step
        for k in np.flatnonzero((tr.terminated | tr.truncated) & tr.valid):
            obs, actions, rewards = self._gather(k, int(envs[k]))
            self.ready.append(Trajectory(obs, actions, rewards, bool(tr.terminated[k]), tr.next_obs[k].copy()))
        self.t += 1
        return tr

    def _columns(self) -> np.ndarray:
        """The env of each column of the step in hand: in lockstep, column ``i`` is env ``i``."""
        return self._envs

    def _gather(self, k: int, env: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Observations, actions and rewards of the episode of ``env`` (column ``k``) that ends at the step in hand."""
        rows = slice(int(self.start[env]) - self.base, self.t + 1 - self.base)
        return self.buf_obs[rows, k].copy(), self.buf_act[rows, k].copy(), self.buf_rew[rows, k].copy()  # type: ignore[index]

    def take(self, n: int) -> list[Trajectory]:
        """Up to ``n`` ready episodes, the oldest first; the rest wait for the next batch."""
        out, self.ready = self.ready[:n], self.ready[n:]
        return out

    def collect(self, algo: Actor) -> EpisodeBatch | None:
        while len(self.ready) < self.episodes:
            if self.env_steps >= self.limit:  # the budget is spent: the finished episodes wait (see pgtrain.collectors)
                return None
            self.send(algo.act(self._policy_obs(), explore=True))
            self.receive()
        return episode_batch(self.take(self.episodes))

    def _policy_obs(self) -> np.ndarray | SparseFrames:
        """The observations in hand as the policy is given them."""
        return self.obs

    def partial_batch(self) -> EpisodeBatch | None:
        """The oldest finished episodes, at most ``episodes`` of them: a whole batch while enough wait (the last step can
        finish more than one batch needs), then the ones short of a batch; None when none waits. Episodes still
        running are not part of it (REINFORCE needs whole returns): they keep running, in checkpoints too."""
        return episode_batch(self.take(self.episodes)) if self.ready else None


class _Table:
    """Columns of equal length that grow at the end and are dropped from the front, with absolute row numbers: row
    ``r`` of a column is ``columns[name][r - base]`` for ``base <= r < end``. A full table first drops the rows before
    the first one still needed, and doubles its capacity only when more than half would remain, so each row is moved
    O(1) times on average."""

    def __init__(self, rows: int, **columns: tuple[Any, tuple[int, ...]]) -> None:
        """``rows``: the first capacity; ``columns``: each column's dtype and the shape of one of its rows."""
        self.columns = {name: np.empty((rows, *shape), dtype=dtype) for name, (dtype, shape) in columns.items()}
        self.base = 0  # absolute number of the first row held
        self.end = 0  # absolute number of the next row

    def reserve(self, n: int, needed_from: Callable[[], int]) -> int:
        """Room for ``n`` more rows; returns the index in the columns where the next row goes (the caller writes the
        rows there, then advances ``end``). ``needed_from()``: the first row any reader still needs (called only when
        the table is full)."""
        capacity = len(next(iter(self.columns.values())))
        used = self.end - self.base
        if used + n > capacity:
            self._drop_before(needed_from())
            used = self.end - self.base
            if used + n > capacity // 2:
                for name, column in self.columns.items():
                    grown = np.empty((2 * (used + n), *column.shape[1:]), dtype=column.dtype)
                    grown[:used] = column[:used]
                    self.columns[name] = grown
        return used

    def _drop_before(self, first: int) -> None:
        keep = first - self.base
        if keep > 0:
            used = self.end - self.base
            for column in self.columns.values():
                column[: used - keep] = column[keep:used]
            self.base = first


class AsyncEpisodeCollector(EpisodeCollector):
    """Whole episodes from ale-py's async mode (``env.async_batch``, envpool's scheme).

    Each vector step sends the actions of the batch in hand and returns the first ``B`` envs to finish a step, named
    by ``info["env_id"]``, while the other envs' emulators keep running: the emulator threads never wait for the
    policy. The actions go out as soon as they are chosen (the vector env's ``send``), before anything is filed,
    and the next batch's actions go out before a batch of episodes is handed over, so every env's emulator takes
    one more step while the update runs (chosen by the pre-update policy: the staleness vectorised REINFORCE
    already has; after that step they wait for the next actions).

    An env's step result comes back in a later batch than the one its action was chosen in: every step is filed
    once, in a table of all envs' steps in the order sent (:class:`_Table`: env, action, the reward when the result
    comes back, the observation), and an episode that ends is gathered from its env's rows. Each batch's filing and
    its results' recording are one compiled pass each (:func:`pgtrain.fast.kernels.file_steps`,
    :func:`pgtrain.fast.kernels.record_results`: on 2 cores shared with the emulator threads, each numpy call of the
    env-step loop costs several microseconds). Observations that are flat integer frames (Pong's lecture frames) are
    filed by their nonzero entries (:class:`~pgtrain.batches.SparseFrames`: Pong's difference frames are ~0.5 %
    nonzero), so a step costs a few hundred bytes, not 6400, and the batch reaches the update without a dense copy;
    others (frame stacks) as they are. Envs returned without an action outstanding (their first frame after the
    reset) or after their episode ended (the autoreset step) carry no transition. Episode returns and lengths are
    summed here: gymnasium's episode statistics wrapper needs lockstep batches. ale-py's emulator state cannot be
    saved, so running episodes are not either (see :meth:`load_state_dict`).
    """

    table_rows = 1024  # the tables' first capacity

    def __init__(self, envs: VectorEnv, seed: int, episodes: int) -> None:
        from pgtrain.fast.kernels import file_steps, record_results  # numba: imported by ale-py's async runs only

        super().__init__(envs, seed, episodes)
        self._file_steps, self._record_results = file_steps, record_results
        self.outstanding = np.zeros(self.num_envs, dtype=bool)
        self.sparse = self.obs.ndim == 2 and np.issubdtype(self.obs.dtype, np.integer)  # filed as SparseFrames
        dense = {} if self.sparse else {"obs": (self.obs.dtype, self.obs.shape[1:])}
        # every env's steps in the order sent; ``begin``, ``count``: a sparse observation's entries
        self.steps = _Table(
            self.table_rows, env=(np.int64, ()), action=(np.int64, ()), reward=(np.float32, ()), begin=(np.int64, ()),
            count=(np.int64, ()), **dense,
        )  # fmt: skip
        col_type = np.int16 if self.obs.shape[-1] <= INT16_COLUMNS else np.int32
        # the sparse observations' nonzero entries, in the order of their steps
        self.entries = _Table(self.table_rows, col=(col_type, ()), value=(self.obs.dtype, ()))
        self.slot = np.zeros(self.num_envs, dtype=np.int64)  # the row of each env's step in flight
        self.first = np.zeros(self.num_envs, dtype=np.int64)  # the row at which each env's running episode begins
        self.ended = np.zeros(self.num_envs, dtype=np.int64)  # record_results' output: the batch's ending envs
        self.frames: SparseFrames | None = None  # the SparseFrames of self.obs, once found (_policy_obs)

    def _policy_obs(self) -> np.ndarray | SparseFrames:
        """Flat integer observations (Pong's lecture frames) as their :class:`SparseFrames`, found once for the policy
        and the table of steps; others as they are."""
        if not self.sparse:
            return self.obs
        if self.frames is None:
            self.frames = SparseFrames.of(self.obs)
        return self.frames

    def collect(self, algo: Actor) -> EpisodeBatch | None:
        while len(self.ready) < self.episodes:
            if self.env_steps >= self.limit:  # the budget is spent: the finished episodes wait (see pgtrain.collectors)
                return None
            if self.pending is None:  # the first step, or the first after a drain (a checkpoint)
                self.send(algo.act(self._policy_obs(), explore=True))
            self.receive()
            if self.env_steps < self.limit:  # the next actions leave at once, before any update
                self.send(algo.act(self._policy_obs(), explore=True))
        return episode_batch(self.take(self.episodes))

    def send(self, actions: np.ndarray) -> None:
        frames = self._policy_obs()
        with atomic():  # a step sent is always one that receive() or drain() will finish
            self.envs.send(actions)
            self.pending = actions
            steps, entries = self.steps, self.entries
            row = steps.reserve(len(actions), self._steps_needed_from)
            entry = entries.end  # the absolute number of the batch's first entry
            if isinstance(frames, SparseFrames):
                at = entries.reserve(len(frames.cols), self._entries_needed_from)
                entries.columns["col"][at : at + len(frames.cols)] = frames.cols
                entries.columns["value"][at : at + len(frames.cols)] = frames.values
                entries.end += len(frames.cols)
                counts = frames.counts
            else:
                carried = ~self.prev_done[self.ids]  # as file_steps files them: not the autoreset steps
                steps.columns["obs"][row : row + int(carried.sum())] = self.obs[carried]
                counts = np.zeros(len(actions), dtype=np.int64)
            c = steps.columns
            steps.end += self._file_steps(
                self.ids, self.prev_done, actions, counts, entry, c["env"], c["action"], c["reward"], c["begin"],
                c["count"], row, steps.base, self.slot, self.outstanding,
            )  # fmt: skip

    def _steps_needed_from(self) -> int:
        return int(self.first.min())

    def _entries_needed_from(self) -> int:
        first = self._steps_needed_from()
        return int(self.steps.columns["begin"][first - self.steps.base]) if first < self.steps.end else self.entries.end

    def receive(self) -> None:
        """Finish the step :meth:`send` started: record its results; the episodes that end go to ``ready``."""
        assert self.pending is not None, "receive() without send()"
        with atomic():  # the wait too: a result received is always recorded
            next_obs, rewards, terminated, truncated, info = self.envs.recv()
            ids = info["env_id"]
            valid, ended = self._record_results(
                ids, rewards, terminated, truncated, self.outstanding, self.prev_done, self.slot,
                self.steps.columns["reward"], self.steps.base, self.ended,
            )  # fmt: skip
            self.env_steps += valid
            for k in self.ended[:ended].tolist():
                env = int(ids[k])
                obs, actions, rewards_ = self._episode(env)
                self.first[env] = self.steps.end  # the env's next step filed begins its next episode
                self.ready.append(Trajectory(obs, actions, rewards_, bool(terminated[k]), next_obs[k].copy()))
                self.finished.append(Episode(float(rewards_.sum()), len(rewards_), self.env_steps))
            self.obs, self.ids, self.frames, self.pending = next_obs, ids, None, None

    def _episode(self, env: int) -> tuple[np.ndarray | SparseFrames, np.ndarray, np.ndarray]:
        """Observations, actions and rewards of ``env``'s episode that ends at its step in flight: its rows from
        ``first[env]`` on."""
        steps = self.steps.columns
        start = int(self.first[env]) - self.steps.base
        rows = start + np.flatnonzero(steps["env"][start : self.steps.end - self.steps.base] == env)
        if "obs" in steps:
            return steps["obs"][rows].copy(), steps["action"][rows].copy(), steps["reward"][rows].copy()
        counts = steps["count"][rows]
        begins = steps["begin"][rows] - self.entries.base
        # the entries of each row, rows one after the other: begin of the row + position within it
        at = np.repeat(begins - (np.cumsum(counts) - counts), counts) + np.arange(int(counts.sum()))
        frames = SparseFrames(self.entries.columns["col"][at], self.entries.columns["value"][at], counts, self.obs.shape[-1])
        return frames, steps["action"][rows].copy(), steps["reward"][rows].copy()

    def close(self) -> None:
        self.drain()  # a step in flight is finished before the emulators stop
        super().close()

    def load_state_dict(self, state: dict[str, Any]) -> bool:
        """ale-py's emulator state cannot be saved, and a second reset would queue a second result for every env
        still stepping: a resumed run keeps the fresh episodes this collector began with."""
        return False
