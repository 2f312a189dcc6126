"""What pgtrain checks about an env before anything is written: its id, its optional packages, its spaces.

Presets that name their action type (configs/env/*.yaml) make no env here: only their spec is read and the module of
their entry point imported (which is where gymnasium reports a missing Box2D or MuJoCo). A generic id
(``env=gym env.id=ID``, or a preset given another id) is made once, its observations wrapped as pgtrain's networks
read them, to read its spaces (a few ms to ~0.1 s; the result is cached per process).
"""

from __future__ import annotations

import difflib
import functools
import importlib
import warnings
from pathlib import Path
from typing import Any

import gymnasium as gym
import yaml
from gymnasium.envs.registration import EnvSpec

from pgtrain.config import ActionType, AtariConfig, DiscreteHead, EnvConfig, PongConfig
from pgtrain.envs.observations import ObservationOptions, is_cnn_input
from pgtrain.errors import PgtrainError

STACK_SIZE = 84  # the side of ale-py's grey frames in env=atari's stacks (the Nature CNN's input)

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
    except (ImportError, gym.error.DependencyNotInstalled) as ex:
        missing = getattr(ex, "name", None)
        if isinstance(ex, ModuleNotFoundError) and missing and not any(module.startswith(p) for p in OPTIONAL_PACKAGES):
            raise PgtrainError(f"env {spec.id} needs the module {missing}, which is not installed here ({_first_line(ex)})") from None
        package, extra = next((v for prefix, v in OPTIONAL_PACKAGES.items() if module.startswith(prefix)), (module, ""))
        hint = INSTALL_HINT.format(extra=extra) if extra else f"the package that provides the module {module}"
        raise PgtrainError(f"env {spec.id} needs {package}, which is not installed here: install it with {hint}") from None


@functools.lru_cache(maxsize=32)
def _spaces(env_id: str, kwargs: tuple[tuple[str, Any], ...], observations: ObservationOptions) -> tuple[gym.Space, gym.Space]:
    from pgtrain.envs import make_env

    try:
        with warnings.catch_warnings():  # an old version's deprecation notice: shown when the run makes its envs
            warnings.simplefilter("ignore", DeprecationWarning)
            env = make_env(env_id, dict(kwargs), observations)
    except ImportError as ex:  # gymnasium's DependencyNotInstalled, and ids whose code moved or needs another library
        check_packages(gym.spec(env_id))
        raise PgtrainError(f"env {env_id} cannot be made here: {_first_line(ex)}") from None
    except (TypeError, ValueError, gym.error.Error) as ex:
        raise PgtrainError(f"gym.make({env_id!r}, **env.kwargs={dict(kwargs)}) failed: {_first_line(ex)}") from None
    try:
        return env.observation_space, env.action_space
    finally:
        env.close()


def _first_line(ex: BaseException) -> str:
    return str(ex).strip().splitlines()[0] if str(ex).strip() else type(ex).__name__


def env_spaces(env: EnvConfig) -> tuple[gym.Space, gym.Space]:
    """Observation and action space of one env of ``env`` (a generic id), observations as the networks read them
    (:mod:`pgtrain.envs.observations`); made once per id, kwargs and image options in a process."""
    return _spaces(env.id, tuple(sorted(env.kwargs.items())), ObservationOptions.of(env))


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
    anything is written: an unknown id, a missing optional package, spaces pgtrain cannot drive."""
    if isinstance(env, PongConfig):  # the lecture's own pipeline (pgtrain.envs.pong), made for Pong's frames alone
        own = (_preset(env.name) or {}).get("id", env.id)
        if env.id != own:
            where = f"env=atari env.id={env.id}" if env.id.startswith("ALE/") else f"env=gym env.id={env.id}"
            raise PgtrainError(f"env=pong plays {own} with the lecture's frame preprocessing; for {env.id} use {where}")
        return
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
        _generic_identity(env)
        if env.vectorization == "vector_entry_point" and spec.vector_entry_point is None:
            raise PgtrainError(
                f"env.vectorization=vector_entry_point: {env.id} has no vector entry point; use env.vectorization=auto "
                f"(one process, {env.id}'s envs stepped in turn)"
            )
        if env.action_type is None:
            _, space = env_spaces(env)
            env.action_type = ActionType(action_type_of(env.id, space))
            head = getattr(algo, "discrete_head", DiscreteHead.softmax)
            if head == DiscreteHead.sigmoid and isinstance(space, gym.spaces.Discrete) and space.n != 2:
                raise PgtrainError(f"algo.discrete_head=sigmoid needs exactly two actions; {env.id} has {space.n}: use softmax")
    if env.solve_threshold is None:
        env.solve_threshold = spec.reward_threshold


def image_shape(env: EnvConfig) -> tuple[int, ...] | None:
    """The frame stack ``(C, H, W)`` the env's CNN reads, or None when its observations are vectors (Pong's pipeline
    chooses its own network: the lecture's flat frames, or a stack for a tuned CNN)."""
    if isinstance(env, PongConfig):
        return None
    if isinstance(env, AtariConfig):
        return (env.frame_stack, STACK_SIZE, STACK_SIZE)
    space, _ = env_spaces(env)
    return tuple(space.shape) if is_cnn_input(space) else None


# A preset's identity (configs/env/<name>.yaml) that describes its own id only; with another id, env=gym's values
GENERIC_IDENTITY = {"action_type": None, "solve_threshold": None, "vectorization": "auto"}
PRESETS_DIR = Path(__file__).resolve().parents[2] / "configs" / "env"


def _generic_identity(env: EnvConfig) -> None:
    """A preset given another id (``env=cartpole env.id=Acrobot-v1``) runs that id as env=gym would: the action type,
    solve threshold and vectorisation that the preset's YAML sets for its own id come from the other id instead (values
    that differ from the preset's, given on the command line, stay)."""
    preset = _preset(env.name) if env.name != "gym" else None
    if preset is None or preset.get("id") in (None, env.id):
        return
    for key, generic in GENERIC_IDENTITY.items():
        value = getattr(env, key)
        if key in preset and getattr(value, "value", value) == preset[key]:
            setattr(env, key, generic)


def _preset(name: str) -> dict[str, Any] | None:
    """What configs/env/<name>.yaml sets, or None when there is no such file (an env config built in code)."""
    path = PRESETS_DIR / f"{name}.yaml"
    return (yaml.safe_load(path.read_text()) or {}) if path.is_file() else None
