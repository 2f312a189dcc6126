"""The vector-env factory: one function builds any configured env as a gymnasium vector env.

Every env uses gymnasium's NEXT_STEP autoreset: the step that ends an episode returns its true final observation
(so a truncated episode can be bootstrapped from it), and the following step resets that env, ignoring its action.
The collectors drop those reset steps. ``terminated`` and ``truncated`` are passed through apart.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.wrappers.vector import RecordEpisodeStatistics

from pgtrain.config import EnvConfig
from pgtrain.errors import PgtrainError


def make_vec_env(cfg: EnvConfig, num_envs: int, render_mode: str | None = None) -> VectorEnv:
    """``num_envs`` copies of the env, vectorised as ``cfg.vectorization`` says, recording episode statistics."""
    if cfg.name == "pong":
        from pgtrain.envs.pong import make_pong_vec_env

        envs = make_pong_vec_env(cfg, num_envs, render_mode)
    else:
        envs = _make_gym_vec_env(cfg, num_envs, render_mode)
    mode = envs.metadata.get("autoreset_mode")
    if mode != AutoresetMode.NEXT_STEP:
        raise PgtrainError(f"env {cfg.id}: pgtrain's collectors need the NEXT_STEP autoreset mode, got {mode}")
    if getattr(envs.unwrapped, "batch_size", envs.num_envs) < envs.num_envs:
        return envs  # ale-py's async mode: batches of some envs; the collector sums the episodes (AsyncEpisodeCollector)
    return RecordEpisodeStatistics(envs, buffer_length=max(cfg.solve_window, 100))


def clip_actions(space: gym.Space, actions: np.ndarray) -> np.ndarray:
    """What the env gets of a policy's actions: Gaussian samples may leave a Box and are clipped to it (the algorithm
    keeps them as sampled); actions of other spaces pass as they are."""
    if isinstance(space, gym.spaces.Box):
        return np.clip(actions, space.low, space.high)
    return actions


def _make_gym_vec_env(cfg: EnvConfig, num_envs: int, render_mode: str | None) -> VectorEnv:
    kwargs: dict[str, Any] = {}
    if render_mode is not None:
        kwargs["render_mode"] = render_mode
    if cfg.max_episode_steps is not None:
        kwargs["max_episode_steps"] = cfg.max_episode_steps
    try:
        if cfg.vectorization == "vector_entry_point":
            return gym.make_vec(cfg.id, num_envs=num_envs, vectorization_mode="vector_entry_point", **kwargs)
        return gym.make_vec(
            cfg.id,
            num_envs=num_envs,
            vectorization_mode=cfg.vectorization,
            vector_kwargs={"autoreset_mode": AutoresetMode.NEXT_STEP},
            **kwargs,
        )
    except gym.error.Error as ex:
        raise PgtrainError(f"cannot make env {cfg.id!r}: {ex}") from ex
