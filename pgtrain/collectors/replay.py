"""A replay buffer fed one vector step at a time, for off-policy algorithms (DDPG)."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium.vector import VectorEnv

from pgtrain.batches import Transition
from pgtrain.collectors.base import Actor, Collector
from pgtrain.envs.normalize import inner, replay_normalization
from pgtrain.envs.state import from_saved, to_saved


class ReplayCollector(Collector):
    """Steps every env once per :meth:`collect` and feeds a :class:`~pgtrain.buffers.ReplayBuffer` (DDPG).

    For the first ``learning_starts`` env steps actions are drawn uniformly from the action space; after that the
    algorithm chooses them with ``act(explore=True)`` (its exploration noise included). Only valid transitions are
    stored, with the true final observation as ``s'`` and ``terminated`` (not truncated) as the done flag. Returns the
    buffer once it holds ``max(learning_starts, batch_size)`` transitions, else None; the algorithm samples from it.

    With ``env.normalize_obs`` / ``env.normalize_reward`` the algorithm acts on normalised observations, but the buffer
    keeps the raw observations and rewards, and normalises each minibatch with the statistics current when it is
    sampled (Stable-Baselines3's way): old transitions do not drift as the statistics move.
    """

    def __init__(self, envs: VectorEnv, seed: int, cfg: Any) -> None:
        from pgtrain.buffers import ReplayBuffer  # here: importing pgtrain.collectors stays free of torch

        super().__init__(envs, seed)
        self.learning_starts = cfg.learning_starts
        self.min_size = min(max(cfg.learning_starts, cfg.batch_size), cfg.buffer_size)
        self.save_buffer = cfg.save_buffer
        obs_space, act_space = inner(envs).single_observation_space, envs.single_action_space  # the raw observations'
        self.buffer = ReplayBuffer(cfg.buffer_size, obs_space.shape, act_space.shape, obs_space.dtype, np.float32)
        self.normalization = replay_normalization(envs)
        if self.normalization is not None:
            self.buffer.transform = self.normalization.batch
            self.original_obs = self.normalization.original_obs(self.obs)  # the raw s of the next transition
        self.random_step = False  # the step in flight takes uniformly random actions
        self.warmup = np.zeros(self.num_envs, dtype=bool)  # env i's running episode has taken random actions

    def collect(self, algo: Actor) -> Any:
        self.random_step = self.env_steps < self.learning_starts
        if self.random_step:
            self.send(self.envs.action_space.sample().astype(np.float32))
        else:
            self.send(algo.act(self.obs, explore=True))
        tr = self.receive()
        ended = (tr.terminated | tr.truncated) & tr.valid
        if ended.any() and hasattr(algo, "reset_noise"):
            algo.reset_noise(ended)  # temporally correlated (OU) noise restarts with each episode
        return self.buffer if len(self.buffer) >= self.min_size else None

    def _keep(self, tr: Transition) -> Transition:
        obs, rewards, next_obs = tr.obs, tr.rewards, tr.next_obs
        if self.normalization is not None:  # store the raw values behind the normalised ones
            obs, next_obs = self.original_obs, self.normalization.original_obs(next_obs)
            rewards = self.normalization.original_rewards(rewards)
            self.original_obs = next_obs
        if tr.valid.all():
            self.buffer.add(obs, tr.actions, rewards, next_obs, tr.terminated)
        else:
            v = tr.valid
            self.buffer.add(obs[v], tr.actions[v], rewards[v], next_obs[v], tr.terminated[v])
        # mark the episodes that took random warm-up actions (the base class just appended those ending here, in env order)
        self.warmup |= tr.valid & self.random_step
        ended = np.flatnonzero((tr.terminated | tr.truncated) & tr.valid)
        for episode, i in zip(self.finished[len(self.finished) - len(ended) :], ended, strict=True):
            episode.warmup = bool(self.warmup[i])
        self.warmup[ended] = False
        return tr

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        if "env" in state:  # the running episodes continue on resume: so do their warm-up marks and raw observations
            state["warmup"] = to_saved(self.warmup)
            if self.normalization is not None:
                state["original_obs"] = to_saved(self.original_obs)
        if self.save_buffer:
            state["replay_buffer"] = self.buffer.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> bool:
        if "replay_buffer" in state:
            self.buffer.load_state_dict(state["replay_buffer"])
        continued = super().load_state_dict(state)
        if self.normalization is not None and continued and "original_obs" in state:
            self.original_obs = from_saved(state["original_obs"])
        elif self.normalization is not None:  # fresh episodes (or a checkpoint from before raw replay): the envs' latest
            self.original_obs = self.normalization.original_obs(self.obs)
        if continued and "warmup" in state:
            self.warmup = from_saved(state["warmup"])
        elif continued:  # a checkpoint without the marks (an older pgtrain): marked while the warm-up still runs
            self.warmup[:] = self.env_steps < self.learning_starts
        return continued
