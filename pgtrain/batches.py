"""What the collectors hand over and the algorithms learn from: plain numpy records, and the pure functions that lay
them out as batches. Algorithms import this module, never the collectors that fill it.

- :class:`Transition`: one vector step of ``N`` envs;
- :class:`Rollout`: ``T`` of them stacked, ``(T, N)`` (A2C, the online actor-critic);
- :class:`Trajectory`: one finished episode's steps; :class:`EpisodeBatch`: several laid end to end (REINFORCE);
- :class:`Episode`: a finished training episode's return and length, for logging.
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
    over its fields in this order, as a tuple would."""

    obs: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    next_obs: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    valid: np.ndarray

    def __iter__(self) -> Iterator[np.ndarray]:
        return (getattr(self, f.name) for f in fields(self))


@dataclass
class Episode:
    """A finished training episode, for logging."""

    ret: float
    length: int
    env_step: int  # the env-step counter when it ended
    warmup: bool = False  # it took some of DDPG's uniformly random actions (before learning_starts): not the actor's


class Trajectory(NamedTuple):
    """One finished episode's steps: ``obs`` ``(L, *obs_shape)``, ``actions`` ``(L, ...)``, ``rewards`` ``(L,)``;
    ``terminated`` (False = cut by a time limit); ``final_obs``, the observation it ended in."""

    obs: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    terminated: bool
    final_obs: np.ndarray


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


def episode_batch(episodes: list[Trajectory]) -> EpisodeBatch:
    """Lay whole episodes end to end."""
    return EpisodeBatch(
        obs=np.concatenate([e.obs for e in episodes]),
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
