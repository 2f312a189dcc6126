"""What pgtrain checks about an env before anything is written: its id, its optional packages, its action type.

Presets that name their action type (configs/env/*.yaml) make no env here: only their spec is read and the module of
their entry point imported (which is where gymnasium reports a missing Box2D or MuJoCo). A generic id
(``env=gym env.id=ID``) is made once to read its action space (a few ms to ~0.1 s; the result is cached per process).
"""

from __future__ import annotations

import difflib
import functools
import importlib
from typing import Any

import gymnasium as gym
from gymnasium.envs.registration import EnvSpec

from pgtrain.config import ActionType, AtariConfig, DiscreteHead, EnvConfig, PongConfig
from pgtrain.errors import PgtrainError

# Entry-point module prefix -> (the package gymnasium needs, the gymnasium extra that installs it).
OPTIONAL_PACKAGES = {
    "gymnasium.envs.box2d": ("Box2D", "box2d"),
    "gymnasium.envs.mujoco": ("MuJoCo", "mujoco"),
    "ale_py": ("ale-py", "atari"),
}
INSTALL_HINT = 'bash scripts/install.sh (or: .venv/bin/pip install "gymnasium[{extra}]")'


def _register_ale() -> bool:
    try:
        import ale_py
    except ImportError:
        return False
    gym.register_envs(ale_py)
    return True


def env_spec(env_id: str) -> EnvSpec:
    """The registered spec of ``env_id``; an unknown id is refused naming the closest registered ones."""
    if env_id.startswith("ALE/") and not _register_ale():
        raise PgtrainError(f"env {env_id} needs ale-py, which is not installed here: install it with {INSTALL_HINT.format(extra='atari')}")
    try:
        return gym.spec(env_id)
    except gym.error.Error as ex:
        _register_ale()  # so that "Breakout-v5" can suggest "ALE/Breakout-v5"
        # compared without namespace and case; an ALE id is compared with ALE ids only
        ids = {i.split("/")[-1].lower(): i for i in gym.registry if not env_id.startswith("ALE/") or i.startswith("ALE/")}
        if not env_id.startswith("ALE/"):
            ids.update({i.lower(): i for i in gym.registry if "/" not in i})  # a plain id wins over a namespaced one
        close = [ids[k] for k in difflib.get_close_matches(env_id.split("/")[-1].lower(), list(ids), n=3, cutoff=0.6)]
        hint = f"closest registered ids: {', '.join(close)}" if close else "see gymnasium.pprint_registry() for the registered ids"
        reason = str(ex).strip().splitlines()[0].rstrip(".") if str(ex).strip() else type(ex).__name__
        raise PgtrainError(f"unknown env id {env_id!r} ({reason}); {hint}") from None


def check_packages(spec: EnvSpec) -> None:
    """Import the module of the env's entry point: a missing optional package is one line naming its install command."""
    if not isinstance(spec.entry_point, str):
        return
    module = spec.entry_point.split(":")[0]
    try:
        importlib.import_module(module)
    except (ImportError, gym.error.DependencyNotInstalled):
        package, extra = next((v for prefix, v in OPTIONAL_PACKAGES.items() if module.startswith(prefix)), (module, ""))
        hint = INSTALL_HINT.format(extra=extra) if extra else f"the package that provides the module {module}"
        raise PgtrainError(f"env {spec.id} needs {package}, which is not installed here: install it with {hint}") from None


@functools.lru_cache(maxsize=32)
def _spaces(env_id: str, kwargs: tuple[tuple[str, Any], ...]) -> tuple[gym.Space, gym.Space]:
    from pgtrain.envs import make_env

    try:
        env = make_env(env_id, dict(kwargs))
    except gym.error.DependencyNotInstalled:
        check_packages(gym.spec(env_id))
        raise
    except (TypeError, ValueError, gym.error.Error) as ex:
        raise PgtrainError(f"gym.make({env_id!r}, **env.kwargs={dict(kwargs)}) failed: {str(ex).strip().splitlines()[0]}") from None
    try:
        return env.observation_space, env.action_space
    finally:
        env.close()


def env_spaces(env_id: str, kwargs: dict[str, Any]) -> tuple[gym.Space, gym.Space]:
    """Observation and action space of one env made with ``kwargs`` (made once per id and kwargs in a process)."""
    return _spaces(env_id, tuple(sorted(kwargs.items())))


def action_type_of(env_id: str, space: gym.Space) -> str:
    """discrete for Discrete spaces, continuous for Box spaces; anything else is refused."""
    if isinstance(space, gym.spaces.Discrete):
        return "discrete"
    if isinstance(space, gym.spaces.Box) and space.shape and len(space.shape) == 1:
        return "continuous"
    raise PgtrainError(
        f"env {env_id} has a {type(space).__name__} action space ({space}); pgtrain drives Discrete and one-dimensional Box actions only"
    )


def check_env(env: EnvConfig, algo: Any) -> None:
    """Fill in what the env's spec knows (the action type, the solve threshold) and refuse what cannot run, before
    anything is written: an unknown id, a missing optional package, an action space pgtrain cannot drive."""
    if isinstance(env, PongConfig):
        return  # the lecture's own pipeline (pgtrain.envs.pong)
    spec = env_spec(env.id)
    is_ale = isinstance(spec.entry_point, str) and spec.entry_point.startswith("ale_py")
    if isinstance(env, AtariConfig):
        if not is_ale:
            raise PgtrainError(f"env=atari runs ALE games (env.id=ALE/<Game>-v5); {env.id} is not one: use env=gym env.id={env.id}")
        env.action_type = ActionType.discrete
    elif is_ale:
        raise PgtrainError(f"{env.id} is an ALE game: run it with env=atari env.id={env.id} (84x84 frame stacks for the Nature CNN)")
    else:
        check_packages(spec)
        if env.action_type is None:
            _, space = env_spaces(env.id, env.kwargs)
            env.action_type = ActionType(action_type_of(env.id, space))
            head = getattr(algo, "discrete_head", DiscreteHead.softmax)
            if head == DiscreteHead.sigmoid and isinstance(space, gym.spaces.Discrete) and space.n != 2:
                raise PgtrainError(f"algo.discrete_head=sigmoid needs exactly two actions; {env.id} has {space.n}: use softmax")
    if env.solve_threshold is None:
        env.solve_threshold = spec.reward_threshold
