"""Save and restore the state of pgtrain's numpy-backed vector envs, so that a resumed run continues bit for bit.

Covered: gymnasium's numpy-vectorised CartPole (``vector_entry_point``) and ``SyncVectorEnv`` of classic-control envs
(Pendulum): dynamics state, step counters, time limits, autoreset flags, every RNG, and the episode statistics wrapper.
Not covered: envs in subprocesses (``vectorization=async``) and ALE's emulators (Pong), whose state lives outside
Python; :func:`env_state` returns None for them and a resumed run starts fresh episodes there.

States hold only numbers, numpy arrays (stored as torch tensors, so ``torch.load(weights_only=True)`` reads them) and
RNG states (dicts of Python ints); nothing is pickled.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium.vector import SyncVectorEnv, VectorEnv
from gymnasium.wrappers.vector import RecordEpisodeStatistics

# Attributes of classic-control envs (and of CartPole's vector env) that change while an episode runs.
_DYNAMIC_ATTRS = ("state", "steps", "prev_done", "steps_beyond_terminated", "last_u")
_STATS_ATTRS = ("episode_returns", "episode_lengths", "prev_dones", "episode_count")


def env_state(envs: VectorEnv) -> dict[str, Any] | None:
    """The state of ``envs`` (a RecordEpisodeStatistics-wrapped vector env), or None when it cannot be captured."""
    if not isinstance(envs, RecordEpisodeStatistics):
        return None  # ale-py's async mode (Pong): no episode statistics wrapper, no state to save either
    inner = envs.env
    state: dict[str, Any] = {
        "stats": {name: to_saved(getattr(envs, name)) for name in _STATS_ATTRS},
        "action_space_rng": _rng_state(envs.action_space),
    }
    if isinstance(inner, SyncVectorEnv):
        state["autoreset"] = to_saved(inner._autoreset_envs)
        state["subenvs"] = [_subenv_state(env) for env in inner.envs]
    elif hasattr(inner, "state") and hasattr(inner, "np_random") and not hasattr(inner, "env"):
        state["vector"] = _object_state(inner)
    else:
        return None
    if any(sub is None for sub in state.get("subenvs", [])):
        return None
    return state


def load_env_state(envs: VectorEnv, state: dict[str, Any]) -> None:
    """Put ``envs`` back in the state :func:`env_state` captured."""
    inner = envs.env
    for name, value in state["stats"].items():
        setattr(envs, name, from_saved(value))
    _set_rng(envs.action_space, state["action_space_rng"])
    if "subenvs" in state:
        inner._autoreset_envs = from_saved(state["autoreset"])
        for env, sub in zip(inner.envs, state["subenvs"], strict=True):
            _load_subenv_state(env, sub)
    else:
        _load_object_state(inner, state["vector"])


def _subenv_state(env: Any) -> dict[str, Any] | None:
    out: dict[str, Any] = {"wrappers": []}
    while hasattr(env, "env"):
        out["wrappers"].append({"_elapsed_steps": env._elapsed_steps} if hasattr(env, "_elapsed_steps") else {})
        env = env.env
    if not hasattr(env, "state"):
        return None
    out["unwrapped"] = _object_state(env)
    return out


def _load_subenv_state(env: Any, state: dict[str, Any]) -> None:
    for saved in state["wrappers"]:
        for name, value in saved.items():
            setattr(env, name, value)
        env = env.env
    _load_object_state(env, state["unwrapped"])


def _object_state(obj: Any) -> dict[str, Any]:
    out = {name: to_saved(getattr(obj, name)) for name in _DYNAMIC_ATTRS if hasattr(obj, name)}
    out["np_random"] = obj.np_random.bit_generator.state
    return out


def _load_object_state(obj: Any, state: dict[str, Any]) -> None:
    for name, value in state.items():
        if name == "np_random":
            obj.np_random.bit_generator.state = value
        else:
            setattr(obj, name, from_saved(value))


def _rng_state(space: Any) -> dict[str, Any]:
    return space.np_random.bit_generator.state


def _set_rng(space: Any, state: dict[str, Any]) -> None:
    space.np_random.bit_generator.state = state


def to_saved(value: Any) -> Any:
    """numpy arrays and scalars -> torch tensors / Python numbers (what a weights-only checkpoint can hold)."""
    import torch  # here, not at the top: config checks import the envs package and never wait for torch

    if isinstance(value, np.ndarray):
        return {"ndarray": torch.from_numpy(np.ascontiguousarray(value).copy()), "dtype": str(value.dtype)}
    if isinstance(value, np.generic):
        return value.item()
    return value


def from_saved(value: Any) -> Any:
    if isinstance(value, dict) and "ndarray" in value:
        return value["ndarray"].numpy().astype(value["dtype"], copy=True)
    return value
