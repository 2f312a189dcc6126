"""What the collectors hand over and the algorithms learn from: plain numpy records, and the pure functions that lay
them out as batches. Algorithms import this module, never the collectors that fill it.

- :class:`Transition`: one vector step of ``N`` envs;
- :class:`Rollout`: ``T`` of them stacked, ``(T, N)`` (A2C, the online actor-critic);
- :class:`Trajectory`: one finished episode's steps; :class:`EpisodeBatch`: several laid end to end (REINFORCE);
- :class:`Episode`: a finished training episode's return and length, for logging;
- :class:`SparseFrames`: observations stored by their nonzero entries (Pong's difference frames in ale-py's async mode).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields
from typing import NamedTuple

import numpy as np


@dataclass
class Transition:
    """One vector step: ``(N, ...)`` arrays. ``next_obs`` is the observation the step returned (the true final
    observation where an episode ended); ``valid`` is False for the envs whose step was only an autoreset. Iterates
    over its fields in this order, as a tuple would. (:class:`~pgtrain.collectors.AsyncEpisodeCollector` makes none:
    it files each batch in its table of steps.)"""

    obs: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    next_obs: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    valid: np.ndarray

    def __iter__(self) -> Iterator[np.ndarray]:
        return (getattr(self, f.name) for f in fields(self))


INT16_COLUMNS = 1 << 15  # SparseFrames of rows at most this wide keep their columns as int16 (np.iinfo costs ~1 us a call)


@dataclass
class SparseFrames:
    """``(N, width)`` observations by their nonzero entries, row after row: row i's are ``cols[s_i : s_i + counts[i]]``
    with ``values`` alike, s_i the sum of the counts before i, columns ascending. Pong's lecture difference frames have
    about 30 nonzero values in 6400: an episode so stored takes ~1/70 of the bytes, and the update's sparse first
    layer reads its entries without scanning a dense batch (:meth:`pgtrain.algos.base.Algorithm.obs_tensor`)."""

    cols: np.ndarray  # (nnz,) int16 (int32 for rows wider than 32,768)
    values: np.ndarray  # (nnz,) the observations' dtype
    counts: np.ndarray  # (N,) int64
    width: int

    @classmethod
    def of(cls, x: np.ndarray) -> SparseFrames:
        """The nonzero entries of ``x`` ``(N, width)``. Pong's int8 difference frames in one compiled pass
        (:func:`pgtrain.fast.kernels.nonzero_rows`, on the env-step loop); other arrays in numpy."""
        if x.dtype == np.int8 and x.ndim == 2 and x.shape[1] % 8 == 0 and x.shape[1] <= INT16_COLUMNS and x.flags.c_contiguous:
            from pgtrain.fast.kernels import nonzero_rows  # numba: imported by the runs that have such frames only

            return cls(*nonzero_rows(x), x.shape[1])
        flat_x = x.reshape(-1)
        flat = np.flatnonzero(flat_x != 0)  # of a bool array: numpy's nonzero of int8 is ten times slower
        rows, cols = np.divmod(flat, x.shape[1])
        col_type = np.int16 if x.shape[1] <= INT16_COLUMNS else np.int32
        return cls(cols.astype(col_type), flat_x[flat], np.bincount(rows, minlength=len(x)), x.shape[1])

    @classmethod
    def concat(cls, parts: Sequence[SparseFrames]) -> SparseFrames:
        """The rows of ``parts`` one after the other."""
        return cls(*(np.concatenate([getattr(p, name) for p in parts]) for name in ("cols", "values", "counts")), parts[0].width)

    def __len__(self) -> int:
        return len(self.counts)

    def starts(self) -> np.ndarray:
        """``(N,)`` int64: where each row's entries begin in ``cols`` and ``values``."""
        return np.cumsum(self.counts) - self.counts

    def rows(self) -> np.ndarray:
        """``(nnz,)`` the row of each entry."""
        return np.repeat(np.arange(len(self.counts)), self.counts)

    def dense(self) -> np.ndarray:
        """The observations as a ``(N, width)`` array."""
        out = np.zeros((len(self), self.width), dtype=self.values.dtype)
        out[self.rows(), self.cols] = self.values
        return out


@dataclass
class Episode:
    """A finished training episode, for logging."""

    ret: float
    length: int
    env_step: int  # the env-step counter when it ended
    warmup: bool = False  # it took some of DDPG's uniformly random actions (before learning_starts): not the actor's


class Trajectory(NamedTuple):
    """One finished episode's steps: ``obs`` ``(L, *obs_shape)`` (or :class:`SparseFrames`), ``actions`` ``(L, ...)``, ``rewards`` ``(L,)``;
    ``terminated`` (False = cut by a time limit); ``final_obs``, the observation it ended in."""

    obs: np.ndarray | SparseFrames
    actions: np.ndarray
    rewards: np.ndarray
    terminated: bool
    final_obs: np.ndarray


@dataclass
class EpisodeBatch:
    """Whole episodes laid end to end: ``obs`` ``(sum(lengths), *obs_shape)`` (or :class:`SparseFrames`), ``actions``
    ``(sum(lengths), ...)``, ``rewards`` ``(sum(lengths),)``; ``lengths`` ``(E,)``; ``terminated`` ``(E,)`` (False = cut
    by a time limit); ``final_obs`` ``(E, *obs_shape)``, the observation each episode ended in (to bootstrap truncated ones)."""

    obs: np.ndarray | SparseFrames
    actions: np.ndarray
    rewards: np.ndarray
    lengths: np.ndarray
    terminated: np.ndarray
    final_obs: np.ndarray | None = None


def episode_batch(episodes: list[Trajectory]) -> EpisodeBatch:
    """Lay whole episodes end to end."""
    obs = [e.obs for e in episodes]
    return EpisodeBatch(
        obs=SparseFrames.concat(obs) if isinstance(obs[0], SparseFrames) else np.concatenate(obs),
        actions=np.concatenate([e.actions for e in episodes]),
        rewards=np.concatenate([e.rewards for e in episodes]),
        lengths=np.array([len(e.rewards) for e in episodes]),
        terminated=np.array([e.terminated for e in episodes]),
        final_obs=np.stack([e.final_obs for e in episodes]),
    )


@dataclass
class Rollout(Transition):
    """``n_steps`` of every env: the fields of ``T`` transitions stacked, ``(T, N, ...)`` (``obs`` ``(T, N,
    *obs_shape)``); ``valid`` is False on autoreset steps, which carry no transition."""


def rollout(steps: list[Transition]) -> Rollout:
    """Stack ``T`` vector steps into a ``(T, N)`` :class:`Rollout`."""
    return Rollout(*(np.stack(column) for column in zip(*steps, strict=True)))


def side_by_side(transitions: Sequence[Transition]) -> Transition:
    """The same step of several groups of envs as one step of all their envs, the groups' columns in order."""
    return Transition(*map(np.concatenate, zip(*transitions, strict=True)))
