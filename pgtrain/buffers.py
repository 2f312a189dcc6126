"""Replay storage for off-policy algorithms (DDPG).

:class:`ReplayBuffer` keeps the last ``capacity`` transitions ``(s, a, r, s', terminated)`` in preallocated numpy
arrays (a ring: once full, each new transition overwrites the oldest) and samples minibatches uniformly with
replacement. Only ``terminated`` is stored as the done flag: a transition cut by a time limit keeps its true ``s'``
and is bootstrapped like any other. With normalisation on, the stored transitions are raw and each minibatch passes
through ``transform``, which normalises it with the current statistics (the collector sets it, as Stable-Baselines3's
``ReplayBuffer.sample(env=vec_normalize)`` does).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from pgtrain.errors import PgtrainError

_FIELDS = ("obs", "actions", "rewards", "next_obs", "terminated")


@dataclass
class ReplayBatch:
    """A sampled minibatch: ``obs``, ``next_obs`` ``(B, *obs_shape)``; ``actions`` ``(B, *act_shape)``;
    ``rewards`` ``(B,)``; ``terminated`` ``(B,)`` as float 0/1 (1 = the episode really ended at s')."""

    obs: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    next_obs: np.ndarray
    terminated: np.ndarray


class ReplayBuffer:
    """A ring buffer of ``capacity`` transitions with uniform sampling.

    Randomness comes from numpy's global generator, which the workspace seeds and checkpoints.
    """

    def __init__(
        self,
        capacity: int,
        obs_shape: tuple[int, ...],
        act_shape: tuple[int, ...],
        obs_dtype: Any = np.float32,
        act_dtype: Any = np.float32,
    ) -> None:
        self.capacity = int(capacity)
        self.obs = np.zeros((self.capacity, *obs_shape), dtype=obs_dtype)
        self.next_obs = np.zeros((self.capacity, *obs_shape), dtype=obs_dtype)
        self.actions = np.zeros((self.capacity, *act_shape), dtype=act_dtype)
        self.rewards = np.zeros(self.capacity, dtype=np.float32)
        self.terminated = np.zeros(self.capacity, dtype=np.float32)
        self.pos = 0  # the row the next transition goes to
        self.size = 0  # rows holding data, <= capacity
        self.transform: Callable[[ReplayBatch], ReplayBatch] | None = None  # applied to each sampled minibatch

    def __len__(self) -> int:
        return self.size

    def add(self, obs: np.ndarray, actions: np.ndarray, rewards: np.ndarray, next_obs: np.ndarray, terminated: np.ndarray) -> None:
        """Append ``n`` transitions (leading axis ``n``), wrapping around and overwriting the oldest when full."""
        n = len(rewards)
        if n == 0:
            return
        if n > self.capacity:  # only the newest capacity rows would survive anyway
            obs, actions, rewards, next_obs, terminated = (x[-self.capacity :] for x in (obs, actions, rewards, next_obs, terminated))
            n = self.capacity
        # a slice while the new rows fit before the end (the usual case), else the wrapped row indices
        rows = slice(self.pos, self.pos + n) if self.pos + n <= self.capacity else (self.pos + np.arange(n)) % self.capacity
        self.obs[rows] = obs
        self.actions[rows] = actions
        self.rewards[rows] = rewards
        self.next_obs[rows] = next_obs
        self.terminated[rows] = terminated
        self.pos = int((self.pos + n) % self.capacity)
        self.size = min(self.size + n, self.capacity)

    def sample(self, batch_size: int) -> ReplayBatch:
        """``batch_size`` transitions drawn uniformly, with replacement, from the stored ones, through ``transform``."""
        if self.size == 0:
            raise PgtrainError("cannot sample from an empty replay buffer")
        idx = np.random.randint(0, self.size, size=batch_size)
        batch = ReplayBatch(self.obs[idx], self.actions[idx], self.rewards[idx], self.next_obs[idx], self.terminated[idx])
        return batch if self.transform is None else self.transform(batch)

    # ------------------------------------------------------------------------------------------------------------------
    # Checkpointing: tensors and ints only, so ``torch.load(weights_only=True)`` reads them.

    def state_dict(self) -> dict[str, Any]:
        """The stored rows (oldest first, so capacity may change on load) as CPU tensors."""
        order = np.arange(self.pos - self.size, self.pos) % self.capacity
        state: dict[str, Any] = {name: torch.from_numpy(np.ascontiguousarray(getattr(self, name)[order])) for name in _FIELDS}
        state["size"] = self.size
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.pos, self.size = 0, 0
        size = int(state["size"])
        arrays = [state[name].numpy() for name in _FIELDS]
        if size and arrays[0].shape[1:] != self.obs.shape[1:]:
            raise PgtrainError(f"the saved replay buffer holds observations of shape {arrays[0].shape[1:]}, not {self.obs.shape[1:]}")
        self.add(*arrays)
