"""Whole episodes for REINFORCE: in lockstep (:class:`EpisodeCollector`) or from ale-py's async mode
(:class:`AsyncEpisodeCollector`)."""

from __future__ import annotations

from concurrent.futures import Executor
from typing import Any

import numpy as np
from gymnasium.vector import VectorEnv

from pgtrain.batches import Episode, EpisodeBatch, SparseFrames, Trajectory, Transition, episode_batch
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


class _Running:
    """One env's running episode in :class:`AsyncEpisodeCollector`: its steps so far; flat integer observations (Pong's
    lecture frames) as their nonzero entries (slices of the :class:`SparseFrames` of the batch each was sent in),
    others (frame stacks) as copies."""

    def __init__(self) -> None:
        self.cols: list[np.ndarray] = []
        self.values: list[np.ndarray] = []
        self.frames: list[np.ndarray] = []
        self.actions: list[Any] = []
        self.rewards: list[float] = []

    def add(self, cols: np.ndarray, values: np.ndarray, action: Any) -> None:
        self.cols.append(cols)
        self.values.append(values)
        self.actions.append(action)

    def add_frame(self, frame: np.ndarray, action: Any) -> None:
        self.frames.append(frame)
        self.actions.append(action)

    def obs(self, width: int) -> np.ndarray | SparseFrames:
        """The episode's observations ``(L, *obs_shape)``; ``width``: a flat observation's."""
        if self.frames:
            return np.stack(self.frames)
        counts = np.array([len(c) for c in self.cols])
        return SparseFrames(np.concatenate(self.cols), np.concatenate(self.values), counts, width)


class AsyncEpisodeCollector(EpisodeCollector):
    """Whole episodes from ale-py's async mode (``env.async_batch``, envpool's scheme).

    Each vector step sends the actions of the batch in hand and returns the first ``B`` envs to finish a step, named
    by ``info["env_id"]``, while the other envs' emulators keep running: the emulator threads never wait for the
    policy. An env's step result comes back in a later batch than the one its action was chosen in, so each env's
    running episode is kept on its own (:class:`_Running`): the observation and action as they are sent, the reward
    when the result comes back, and the episode goes to ``ready`` when it ends. Observations are kept by their nonzero
    entries (:class:`~pgtrain.batches.SparseFrames`: Pong's difference frames are ~0.5 % nonzero), so a step costs a
    few hundred bytes, not 6400, and the batch reaches the update without a dense copy. Envs returned without an action
    outstanding (their first frame after the reset) or after their episode ended (the autoreset step) carry no
    transition. Episode returns and lengths are summed here: gymnasium's episode statistics wrapper needs lockstep
    batches. ale-py's emulator state cannot be saved, so running episodes are not either (see :meth:`load_state_dict`).
    """

    def __init__(self, envs: VectorEnv, seed: int, episodes: int) -> None:
        super().__init__(envs, seed, episodes)
        self.outstanding = np.zeros(self.num_envs, dtype=bool)
        self.running = [_Running() for _ in range(self.num_envs)]
        self.frames: SparseFrames | None = None  # the SparseFrames of self.obs, once found (_policy_obs)

    def _policy_obs(self) -> np.ndarray | SparseFrames:
        """Flat integer observations (Pong's lecture frames) as their :class:`SparseFrames`, found once for the policy
        and the running episodes; others as they are."""
        if self.frames is None and self.obs.ndim == 2 and np.issubdtype(self.obs.dtype, np.integer):
            self.frames = SparseFrames.of(self.obs)
        return self.frames if self.frames is not None else self.obs

    def send(self, actions: np.ndarray) -> None:
        frames = self._policy_obs()
        # the envs whose step is the autoreset that follows an episode's end carry no transition: nothing is kept
        steps = zip(self.ids.tolist(), self.prev_done[self.ids].tolist(), actions.tolist(), strict=True)
        with atomic():
            if isinstance(frames, SparseFrames):
                begin = 0
                for (env, autoreset, action), end in zip(steps, np.cumsum(frames.counts).tolist(), strict=True):
                    if not autoreset:
                        self.running[env].add(frames.cols[begin:end], frames.values[begin:end], action)
                    begin = end
            else:
                for k, (env, autoreset, action) in enumerate(steps):
                    if not autoreset:
                        self.running[env].add_frame(self.obs[k].copy(), action)
            self.outstanding[self.ids] = True
            super().send(actions)

    def _record(self, actions: np.ndarray, result: Any) -> Transition:
        next_obs, rewards, terminated, truncated, info = result
        ids = info["env_id"]
        valid = self.outstanding[ids] & ~self.prev_done[ids]
        self.env_steps += int(valid.sum())
        tr = Transition(None, actions, rewards, next_obs, terminated, truncated, valid)
        self.outstanding[ids] = False
        self.prev_done[ids] = terminated | truncated
        self.obs, self.ids, self.frames = next_obs, ids, None
        return tr

    def _keep(self, tr: Transition) -> Transition:
        """Add each valid step's reward to its env's running episode; an episode that ends here goes to ``ready``."""
        ids, rewards = self.ids.tolist(), tr.rewards.tolist()
        for k in np.flatnonzero(tr.valid).tolist():
            self.running[ids[k]].rewards.append(rewards[k])
        for k in np.flatnonzero((tr.terminated | tr.truncated) & tr.valid).tolist():
            ep, self.running[ids[k]] = self.running[ids[k]], _Running()
            obs = ep.obs(self.obs.shape[-1])
            ep_rewards = np.array(ep.rewards, dtype=np.float32)
            self.ready.append(Trajectory(obs, np.array(ep.actions), ep_rewards, bool(tr.terminated[k]), tr.next_obs[k].copy()))
            self.finished.append(Episode(float(ep_rewards.sum()), len(ep_rewards), self.env_steps))
        return tr

    def load_state_dict(self, state: dict[str, Any]) -> bool:
        """ale-py's emulator state cannot be saved, and a second reset would queue a second result for every env
        still stepping: a resumed run keeps the fresh episodes this collector began with."""
        return False
