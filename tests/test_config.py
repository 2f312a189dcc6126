"""Config composition: every algo x env x device composes and type-checks; bad values are refused in one line."""

from __future__ import annotations

import dataclasses
import enum
import typing
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from pgtrain.algos import algo_class, check_action_type, registry, schema
from pgtrain.cli import CONFIG_DIR
from pgtrain.config import Config, to_object
from pgtrain.configstore import typed_config
from pgtrain.envs.specs import check_env
from pgtrain.errors import PgtrainError

CONFIGS = Path(CONFIG_DIR)
ALGO_NAMES = sorted(p.stem for p in (CONFIGS / "algo").glob("*.yaml"))
ENV_NAMES = sorted(p.stem for p in (CONFIGS / "env").glob("*.yaml"))
DEVICE_NAMES = sorted(p.stem for p in (CONFIGS / "device").glob("*.yaml"))
EXAMPLE_IDS = {"gym": "Acrobot-v1", "atari": "ALE/Breakout-v5"}  # env groups that take any id


@pytest.fixture(scope="module", autouse=True)
def _hydra():
    """One Hydra initialisation for this module's compositions (each costs a fifth of a composition; pytest ends it
    before the next module's tests, which initialise their own)."""
    with initialize_config_dir(CONFIG_DIR, version_base="1.3"):
        yield


def _compose(*overrides: str):
    return compose("config", overrides=list(overrides))


def test_groups_exist():
    assert {"reinforce"} <= set(ALGO_NAMES)
    assert {"cartpole", "pendulum"} <= set(ENV_NAMES)
    assert set(DEVICE_NAMES) == {"auto", "cpu", "cuda"}


def test_default_is_reinforce_on_cartpole():
    cfg = to_object(_compose())
    assert isinstance(cfg, Config)
    assert (cfg.algo.name, cfg.env.name, cfg.device.name.value) == ("reinforce", "cartpole", "auto")


@pytest.mark.parametrize("algo", ALGO_NAMES)
@pytest.mark.parametrize("env", ENV_NAMES)
@pytest.mark.parametrize("device", DEVICE_NAMES)
def test_every_algo_env_device_composes(algo, env, device):
    example_id = [f"env.id={EXAMPLE_IDS[env]}"] if env in EXAMPLE_IDS else []
    cfg = to_object(_compose(f"algo={algo}", f"env={env}", f"device={device}", *example_id))
    check_env(cfg.env, cfg.algo)  # env=gym: the action type comes from the env's action space
    name = cfg.algo.name
    assert name in registry() and algo_class(name).name == name
    assert isinstance(cfg.algo, schema(name))
    assert cfg.env.name == env
    supported = cfg.env.action_type.value in registry()[name].action_types
    if supported:
        check_action_type(name, env, cfg.env.action_type.value)
    else:
        with pytest.raises(PgtrainError, match="needs .* actions"):
            check_action_type(name, env, cfg.env.action_type.value)


def _another_value(value, hint):
    """A value of the field's own type that differs from ``value`` (its default)."""
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return next(m.value for m in hint if m.value != value)
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value / 2 if value else 0.5
    if isinstance(value, list):
        return [v + 1 for v in value]
    if value is None:  # an optional rate: None means "the main lr"
        return 0.5
    return {"mlp": "cnn"}[value]  # the only free-text field: the torso


@pytest.mark.parametrize("algo", ALGO_NAMES)
def test_every_algo_option_can_be_overridden(algo):
    """Each schema field is reachable from the command line: a value of its own type other than its default lands in
    the composed config and, where the algorithm accepts it, in the validated one."""
    base = _compose(f"algo={algo}")
    name = base.algo.name
    algo_schema = schema(name)
    defaults = OmegaConf.to_container(base.algo, enum_to_str=True)
    hints = typing.get_type_hints(algo_schema)
    for field in dataclasses.fields(algo_schema):
        if field.name == "name":  # picks the schema itself
            continue
        value = _another_value(defaults[field.name], hints[field.name])
        assert value != defaults[field.name], field.name
        text = "[" + ",".join(map(str, value)) + "]" if isinstance(value, list) else str(value)
        cfg = _compose(f"algo={algo}", f"algo.{field.name}={text}")
        assert OmegaConf.to_container(cfg.algo, enum_to_str=True)[field.name] == value, field.name
        got = getattr(to_object(cfg).algo, field.name)
        assert (got.value if isinstance(got, enum.Enum) else got) == value, field.name


def test_top_level_options_override():
    cfg = to_object(_compose("seed=7", "total_steps=1234", "device=cpu", "device.torch_threads=2", "eval_interval=100"))
    assert (cfg.seed, cfg.total_steps, cfg.device.torch_threads, cfg.eval_interval) == (7, 1234, 2, 100)


@pytest.mark.parametrize(
    "override, message",
    [
        ("algo.gamma=1.5", "algo.gamma=1.5 is out of range"),
        ("algo.gamma=0", "algo.gamma=0.0 is out of range"),
        ("algo.lr=0", "algo.lr=0.0 is out of range"),
        ("algo.lr=-1e-3", "algo.lr=-0.001 is out of range"),
        ("algo.num_envs=0", "algo.num_envs=0 is out of range"),
        ("total_steps=-5", "total_steps=-5 is out of range"),
        ("algo.episodes_per_update=0", "algo.episodes_per_update=0 is out of range"),
    ],
)
def test_out_of_range_values_are_refused(override, message):
    with pytest.raises(PgtrainError, match=message.replace(".", r"\.").replace("(", r"\(")):
        to_object(_compose(override))


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["env.pipeline_groups=0"], "env.pipeline_groups=0 is out of range"),
        (["algo=ddpg", "env=pendulum", "env.pipeline_groups=2"], "env.pipeline_groups=2: DDPG steps its envs one"),
        (["algo=a2c", "env=pong", "env.async_batch=8"], "env.async_batch=8 needs an algorithm that learns from whole episodes"),
        (["algo=reinforce", "env=pong", "env.pipeline_groups=2"], "env.async_batch=24 and env.pipeline_groups=2: choose"),
        (["algo=reinforce", "env=pong", "env.async_batch=-1"], "env.async_batch=-1 is out of range"),
    ],
)
def test_pipeline_groups_are_checked(overrides, message):
    with pytest.raises(PgtrainError, match=message.replace(".", r"\.")):
        to_object(_compose(*overrides))


@pytest.mark.parametrize("tuned", sorted(p.stem for p in (CONFIGS / "tuned").glob("*.yaml")))
def test_tuned_files_apply_every_key(tuned):
    """configs/tuned/<algo>_<env>.yaml wins over the group defaults and the root's own values (total_steps included)."""
    algo, env = tuned.split("_", 1)
    assert (CONFIGS / "env" / f"{env}.yaml").exists(), f"configs/tuned/{tuned}.yaml names env={env}, which configs/env/ lacks"
    cfg = _compose(f"algo={algo}", f"env={env}")
    wanted = OmegaConf.to_container(OmegaConf.load(CONFIGS / "tuned" / f"{tuned}.yaml"))

    def walk(node, prefix=""):
        for key, value in node.items():
            if isinstance(value, dict):
                yield from walk(value, f"{prefix}{key}.")
            else:
                yield f"{prefix}{key}", value

    for key, value in walk(wanted):
        got = OmegaConf.select(cfg, key)
        assert (got.value if hasattr(got, "value") else got) == value, key


def test_command_line_wins_over_tuned_file():
    cfg = _compose("algo=ddpg", "env=pendulum", "total_steps=777")
    assert cfg.total_steps == 777


@pytest.mark.parametrize("algo", ALGO_NAMES)
def test_a_saved_config_retypes_against_its_algorithms_schema(algo):
    """A checkpoint's plain config (what runs saved before the schemas moved into the algorithms' modules holds the
    same keys) loads back as the config it was composed as."""
    composed = _compose(f"algo={algo}", "env=pendulum")
    plain = OmegaConf.to_container(composed, enum_to_str=True)
    assert OmegaConf.to_container(typed_config(plain), enum_to_str=True) == plain


def test_a_saved_network_option_of_a_replay_algorithm_is_dropped_only_at_mlp():
    plain = OmegaConf.to_container(_compose("algo=ddpg", "env=pendulum"), enum_to_str=True)
    saved = {**plain, "algo": {**plain["algo"], "network": "mlp"}}  # ddpg, td3 and sac had it until 2026-12-07
    cfg = typed_config(saved)
    assert "network" not in cfg.algo and OmegaConf.to_container(cfg, enum_to_str=True) == plain
    with pytest.raises(PgtrainError, match="network"):
        typed_config({**plain, "algo": {**plain["algo"], "network": "cnn"}})
