"""Save and restore the state of pgtrain's vector envs, so that a resumed run continues bit for bit.

Covered: gymnasium's numpy-vectorised CartPole (``vector_entry_point``) and ``SyncVectorEnv`` (``vectorization=sync``,
the ``auto`` choice of every env without a vector entry point) of classic-control envs (Pendulum) and of MuJoCo envs
(HalfCheetah, Hopper, any gymnasium MuJoCo env): dynamics state, step counters, time limits, autoreset flags, every
RNG, and the episode statistics wrapper. A MuJoCo simulation is saved with MuJoCo's own ``mj_getState`` /
``mj_setState`` (``mjSTATE_INTEGRATION``: time, positions, velocities, actuator activations, controls, applied forces
and the constraint solver's warm start, everything ``mj_step`` integrates from), plus the body, geom and site
positions of the last step, which lag one substep behind the positions after ``mj_step`` and which some envs read
before stepping (Ant's torso position, Humanoid's centre of mass).

Not covered, so :func:`env_state` returns None and a resumed run starts fresh episodes (seeded with ``seed +
env_steps``): envs in subprocesses (``vectorization=async``); ALE's emulators (Pong, env=atari), whose state lives in
C++; Box2D envs (LunarLander, BipedalWalker, CarRacing), whose world is a tree of C++ bodies, joints and contacts with
no API to read or write it whole; and any other env (toy text, third-party), whose dynamic state pgtrain cannot know.

States hold only numbers, numpy arrays (stored as torch tensors, so ``torch.load(weights_only=True)`` reads them) and
RNG states (dicts of Python ints); nothing is pickled.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
from gymnasium.vector import SyncVectorEnv, VectorEnv
from gymnasium.wrappers.vector import RecordEpisodeStatistics

# Attributes of classic-control envs (and of CartPole's vector env) that change while an episode runs.
_DYNAMIC_ATTRS = ("state", "steps", "prev_done", "steps_beyond_terminated", "last_u")
_STATS_ATTRS = ("episode_returns", "episode_lengths", "prev_dones", "episode_count")
# mjData's position-dependent quantities (mj_kinematics, mj_comPos): after mj_step they are those of the last substep's
# start, which mj_forward on the saved state cannot recompute.
_MUJOCO_KINEMATICS = ("xpos", "xquat", "xmat", "xipos", "ximat", "geom_xpos", "geom_xmat", "site_xpos", "site_xmat", "subtree_com")


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
    elif _classic_control(inner):
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
    if not _classic_control(env) and _mujoco(env) is None:
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
    mujoco = _mujoco(obj)
    if mujoco is not None:
        out["mujoco"] = _mujoco_state(mujoco, obj)
    out["np_random"] = obj.np_random.bit_generator.state
    return out


def _load_object_state(obj: Any, state: dict[str, Any]) -> None:
    for name, value in state.items():
        if name == "np_random":
            obj.np_random.bit_generator.state = value
        elif name == "mujoco":
            _load_mujoco_state(_mujoco(obj), obj, value)
        else:
            setattr(obj, name, from_saved(value))


def _classic_control(env: Any) -> bool:
    """Whether ``env`` is one of gymnasium's classic-control envs (or CartPole's vector env), whose whole dynamic state
    is in ``_DYNAMIC_ATTRS``; another env's ``state`` may be only part of its state (CarRacing's is a picture of its
    Box2D world)."""
    return type(env).__module__.startswith("gymnasium.envs.classic_control.")


def _mujoco(env: Any) -> Any:
    """The ``mujoco`` module if ``env`` is a MuJoCo env (one with an ``MjData``), else None; never imports it: a MuJoCo
    env has imported it already."""
    mujoco = sys.modules.get("mujoco")
    return mujoco if mujoco is not None and isinstance(getattr(env, "data", None), mujoco.MjData) else None


def _mujoco_state(mujoco: Any, env: Any) -> dict[str, Any]:
    spec = mujoco.mjtState.mjSTATE_INTEGRATION
    state = np.empty(mujoco.mj_stateSize(env.model, spec))
    mujoco.mj_getState(env.model, env.data, state, spec)
    return {"integration": to_saved(state), **{name: to_saved(getattr(env.data, name)) for name in _MUJOCO_KINEMATICS}}


def _load_mujoco_state(mujoco: Any, env: Any, state: dict[str, Any]) -> None:
    mujoco.mj_setState(env.model, env.data, from_saved(state["integration"]), mujoco.mjtState.mjSTATE_INTEGRATION)
    mujoco.mj_forward(env.model, env.data)  # the rest of mjData from the state (mj_step recomputes it before integrating)
    for name in _MUJOCO_KINEMATICS:  # but the positions an env may read before stepping as the saved step left them
        getattr(env.data, name)[...] = from_saved(state[name])


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
