"""The vector-env factory: one function builds any configured env as a gymnasium vector env.

Every env uses gymnasium's NEXT_STEP autoreset: the step that ends an episode returns its true final observation
(so a truncated episode can be bootstrapped from it), and the following step resets that env, ignoring its action.
The collectors drop those reset steps. ``terminated`` and ``truncated`` are passed through apart.

Wrappers, inside out: the env (pong, an ALE game, or any gymnasium id, whose observations become vectors or
channels-first frame stacks: :mod:`pgtrain.envs.observations`), gymnasium's RecordEpisodeStatistics (so
the logged returns are the env's true ones), then, for training only, what changes what is learnt from: Atari's
episodic life and reward clipping, and the observation / reward normalisation (:mod:`pgtrain.envs.normalize`).
"""

from __future__ import annotations

import functools
import warnings
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.wrappers.vector import RecordEpisodeStatistics

from pgtrain.config import AtariConfig, EnvConfig
from pgtrain.envs.normalize import normalize
from pgtrain.envs.observations import ObservationOptions, wrap_observations
from pgtrain.errors import PgtrainError

# env.vectorization=auto without a vector entry point: SyncVectorEnv, measured 3x AsyncVectorEnv's env steps/s with
# 8 envs on 2 cores (LunarLander-v3 26k vs 8.7k, HalfCheetah-v5 21k vs 6.4k, random actions; docs/envs.md)
AUTO_FALLBACK = "sync"


def env_label(cfg: EnvConfig) -> str:
    """How messages name the env: the preset's name, or the id for env=gym and env=atari."""
    return cfg.id if cfg.name in ("gym", "atari") else cfg.name


def make_vec_env(
    cfg: EnvConfig,
    num_envs: int,
    render_mode: str | None = None,
    training: bool = True,
    normalization: dict[str, Any] | None = None,
) -> VectorEnv:
    """``num_envs`` copies of the env, vectorised as ``cfg.vectorization`` says, recording episode statistics.

    ``training=False`` (evaluation, videos) leaves out what only training uses (Atari's episodic life and reward
    clipping, reward normalisation) and normalises observations with ``normalization`` (a checkpoint's statistics),
    frozen.
    """
    if cfg.name == "pong":
        from pgtrain.envs.pong import make_pong_vec_env

        envs = make_pong_vec_env(cfg, num_envs, render_mode)
    elif isinstance(cfg, AtariConfig):
        from pgtrain.envs.atari import make_atari_vec_env

        envs = make_atari_vec_env(cfg, num_envs, render_mode)
    else:
        envs = _make_gym_vec_env(cfg, num_envs, render_mode)
    mode = envs.metadata.get("autoreset_mode")
    if mode != AutoresetMode.NEXT_STEP:
        raise PgtrainError(f"env {cfg.id}: pgtrain's collectors need the NEXT_STEP autoreset mode, got {mode}")
    if getattr(envs.unwrapped, "batch_size", envs.num_envs) < envs.num_envs:
        return envs  # ale-py's async mode: batches of some envs; the collector sums the episodes (AsyncEpisodeCollector)
    envs = RecordEpisodeStatistics(envs, buffer_length=max(cfg.solve_window, 100))
    if training and isinstance(cfg, AtariConfig):
        from pgtrain.envs.atari import AtariTraining

        envs = AtariTraining(envs, cfg.episodic_life, cfg.clip_rewards)
    return normalize(envs, cfg, training, normalization)


def clip_actions(space: gym.Space, actions: np.ndarray) -> np.ndarray:
    """What the env gets of a policy's actions: Gaussian samples may leave a Box and are clipped to it (the algorithm
    keeps them as sampled); actions of other spaces pass as they are."""
    if isinstance(space, gym.spaces.Box):
        return np.clip(actions, space.low, space.high)
    return actions


def _make_gym_vec_env(cfg: EnvConfig, num_envs: int, render_mode: str | None) -> VectorEnv:
    kwargs: dict[str, Any] = dict(cfg.kwargs)
    if render_mode is not None:
        kwargs["render_mode"] = render_mode
    if cfg.max_episode_steps is not None:
        kwargs["max_episode_steps"] = cfg.max_episode_steps
    mode = cfg.vectorization
    if mode == "auto":
        mode = "vector_entry_point" if gym.spec(cfg.id).vector_entry_point is not None else AUTO_FALLBACK
    try:
        if mode == "vector_entry_point":
            return gym.make_vec(cfg.id, num_envs=num_envs, vectorization_mode="vector_entry_point", **kwargs)
        fns = [functools.partial(make_env, cfg.id, kwargs, ObservationOptions.of(cfg))] * num_envs
        vector = gym.vector.AsyncVectorEnv if mode == "async" else gym.vector.SyncVectorEnv
        return vector(fns, autoreset_mode=AutoresetMode.NEXT_STEP)
    except gym.error.Error as ex:
        raise PgtrainError(f"cannot make env {cfg.id!r}: {ex}") from ex


def make_env(env_id: str, kwargs: dict[str, Any], observations: ObservationOptions | None = None) -> gym.Env:
    """``gym.make(env_id, **kwargs)``, with MuJoCo's warnings sent to Python's ``warnings`` (in a subprocess too), its
    observations as pgtrain's networks read them (:mod:`pgtrain.envs.observations`; ``None``: as the env gives them)."""
    entry_point = gym.spec(env_id).entry_point
    if isinstance(entry_point, str) and entry_point.startswith("gymnasium.envs.mujoco"):
        quiet_mujoco()
    env = gym.make(env_id, **kwargs)
    return env if observations is None else wrap_observations(env, observations, env_id)


def quiet_mujoco() -> None:
    """MuJoCo prints its warnings and appends them to MUJOCO_LOG.TXT in the working directory, outside the run
    directory; route them to Python's warnings instead (each shown once), dropping the deprecation notices that
    gymnasium's model files trigger (HalfCheetah's ``settotalmass``)."""
    import mujoco

    def warn(message: str) -> None:
        if "deprecated" not in message:
            warnings.warn(f"MuJoCo: {message}", RuntimeWarning, stacklevel=2)

    mujoco.set_mju_user_warning(warn)
