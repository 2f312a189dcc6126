"""What pgtrain's networks read from a generic gymnasium env (env=gym, the Box2D/MuJoCo/classic presets): every
observation space is turned into one of two kinds, or refused in one line.

- **vectors** for the MLP: a Box as it is; Discrete, MultiDiscrete and MultiBinary observations, and Dict or Tuple
  observations of those and of vector Boxes, flattened by gymnasium's FlattenObservation (a Discrete becomes a one-hot
  vector, as Stable-Baselines3 encodes it) and cast to float32;
- **images** for the CNN: a uint8 Box of shape ``(H, W, C)`` with 1 or 3 channels (CarRacing's pixels), resized to
  ``env.image_size`` square, turned grey (``env.grayscale``) and stacked (``env.frame_stack``) with gymnasium's
  ResizeObservation, GrayscaleObservation and FrameStackObservation, then laid out channels first, ``(C, H, W)``, as
  the Nature CNN reads them (a colour stack of k frames has 3k channels).

ALE games (env=atari) and Pong bring their own preprocessing and never pass here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from pgtrain.errors import PgtrainError

IMAGE_CHANNELS = (1, 3)  # grey or RGB, last axis
MIN_IMAGE_SIDE = 8  # smaller uint8 arrays are read as vectors
FLAT = (spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary)  # encoded as one-hot / 0-1 vectors when flattened


@dataclass(frozen=True)
class ObservationOptions:
    """The image options of an env config (a frozen copy: it is a key of a cache and travels to subprocesses)."""

    image_size: int = 84
    grayscale: bool = True
    frame_stack: int = 4

    @classmethod
    def of(cls, cfg: Any) -> ObservationOptions:
        return cls(cfg.image_size, cfg.grayscale, cfg.frame_stack)


def is_image(space: gym.Space) -> bool:
    """A picture of the screen: uint8 ``(H, W, C)`` with C in 1 or 3 (Stable-Baselines3's test, channels last)."""
    return (
        isinstance(space, spaces.Box)
        and space.dtype == np.uint8
        and len(space.shape) == 3
        and space.shape[-1] in IMAGE_CHANNELS
        and min(space.shape[:2]) >= MIN_IMAGE_SIDE
    )


def is_cnn_input(space: gym.Space) -> bool:
    """What :func:`wrap_observations` makes of an image: uint8 ``(C, H, W)``."""
    return isinstance(space, spaces.Box) and space.dtype == np.uint8 and len(space.shape) == 3


def wrap_observations(env: gym.Env, options: ObservationOptions, env_id: str) -> gym.Env:
    """``env`` with its observations as the networks read them (module docstring); other spaces are refused."""
    space = env.observation_space
    if is_image(space):
        return _image_pipeline(env, options)
    if isinstance(space, spaces.Box):
        return env  # vectors (and other arrays, which the MLP flattens)
    if isinstance(space, FLAT):
        return _flattened(env)
    if isinstance(space, (spaces.Dict, spaces.Tuple)):
        _check_flattenable(space, env_id)
        return _flattened(env)
    raise PgtrainError(
        f"env {env_id} has a {type(space).__name__} observation space ({space}); pgtrain reads Box, Discrete, "
        "MultiDiscrete, MultiBinary observations and Dict or Tuple observations of those"
    )


def _flattened(env: gym.Env) -> gym.Env:
    return gym.wrappers.DtypeObservation(gym.wrappers.FlattenObservation(env), np.float32)


def _check_flattenable(space: spaces.Dict | spaces.Tuple, env_id: str) -> None:
    """Dict and Tuple observations are flattened into one vector: their parts must be vectors or discrete values."""
    parts = space.spaces.items() if isinstance(space, spaces.Dict) else enumerate(space.spaces)
    for key, part in parts:
        if isinstance(part, (spaces.Dict, spaces.Tuple)):
            _check_flattenable(part, env_id)
        elif is_image(part) or not isinstance(part, (spaces.Box, *FLAT)):
            what = "an image" if is_image(part) else f"a {type(part).__name__} space"
            raise PgtrainError(
                f"env {env_id}'s {type(space).__name__} observation holds {what} at {key!r} ({part}); pgtrain flattens Dict "
                "and Tuple observations of vectors and discrete values only (a single image observation gets the CNN)"
            )


def _image_pipeline(env: gym.Env, options: ObservationOptions) -> gym.Env:
    height, width, channels = env.observation_space.shape
    size = options.image_size
    if size and (height, width) != (size, size):
        env = gym.wrappers.ResizeObservation(env, (size, size))
    if channels == 3 and options.grayscale:
        env = gym.wrappers.GrayscaleObservation(env, keep_dim=False)  # (H, W)
    elif channels == 1:
        h, w, _ = env.observation_space.shape
        env = gym.wrappers.ReshapeObservation(env, (h, w))
    env = gym.wrappers.FrameStackObservation(env, options.frame_stack)  # (k, H, W) or (k, H, W, 3)
    shape = env.observation_space.shape
    if len(shape) == 4:  # colour: the k frames' RGB planes as 3k channels
        k, h, w, c = shape
        planes = gym.spaces.Box(0, 255, (k * c, h, w), np.uint8)
        env = gym.wrappers.TransformObservation(
            env, lambda obs: np.ascontiguousarray(obs.transpose(0, 3, 1, 2).reshape(k * c, h, w)), planes
        )
    return env
