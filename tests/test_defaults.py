"""One source for every default: the schema dataclasses (pgtrain/config.py; an algorithm's in pgtrain/algos/<name>.py).

A group option's YAML (configs/algo, configs/env, configs/device) starts from a schema and says only its ``name`` and,
for an env, its identity (the fields the schema leaves unset: MISSING or None); a preset that extends another option
(``algo=ac_online`` extends ``a2c``) says only what differs from it. The README's and docs' tables of defaults agree
with the schema.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hydra import compose, initialize_config_dir
from omegaconf import MISSING, OmegaConf

from pgtrain.algos import registry, schema
from pgtrain.cli import CONFIG_DIR
from pgtrain.config import ENV_SCHEMAS, Config, DeviceConfig, EnvConfig, PongConfig

CONFIGS = Path(CONFIG_DIR)
ROOT = CONFIGS.parent
SCHEMAS: dict[tuple[str, str], type] = {
    **{("algo", name): entry.schema for name, entry in registry().items()},
    ("env", "env"): EnvConfig,
    **{("env", name): cls for name, cls in ENV_SCHEMAS.items()},
    ("device", "device"): DeviceConfig,
}
GROUPS = ("algo", "env", "device")
OPTIONS = [(group, path.stem) for group in GROUPS for path in sorted((CONFIGS / group).glob("*.yaml"))]


def schema_defaults(cls: type) -> dict[str, Any]:
    """Each field's default as plain data (enums as their values); MISSING stays MISSING."""
    out = {}
    for f in dataclasses.fields(cls):
        value = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        out[f.name] = value.value if isinstance(value, enum.Enum) else value
    return out


def _parent(group: str, raw: dict[str, Any]) -> tuple[str, str]:
    """``("schema", name)`` or ``("option", name)``: what the YAML's defaults list starts from."""
    entries = [e for e in raw.get("defaults", []) if e != "_self_"]
    assert len(entries) == 1, f"configs/{group}: one schema or one option in the defaults list, got {entries}"
    entry = entries[0]
    match = re.fullmatch(rf"/schema/{group}/(\w+)@_here_", entry)
    return ("schema", match.group(1)) if match else ("option", entry)


def resolved_defaults(group: str, option: str) -> tuple[type, dict[str, Any]]:
    """The schema and the values an option gives, following its parents: what composing it yields."""
    raw = yaml.safe_load((CONFIGS / group / f"{option}.yaml").read_text())
    kind, name = _parent(group, raw)
    if kind == "schema":
        schema = SCHEMAS[(group, name)]
        values = schema_defaults(schema)
    else:
        schema, values = resolved_defaults(group, name)
        values = dict(values)
    values.update({k: v for k, v in raw.items() if k != "defaults"})
    return schema, values


def restated(group: str, option: str, text: str) -> list[str]:
    """What the YAML ``text`` of option ``group/option`` says that it must not; empty when it says each thing once."""
    raw = yaml.safe_load(text) or {}
    kind, parent = _parent(group, raw)
    problems = []
    if kind == "option":
        _, inherited = resolved_defaults(group, parent)
        for key, value in raw.items():
            if key != "defaults" and key in inherited and inherited[key] == value:
                problems.append(f"{key}: {value!r} repeats the value of {group}={parent}, which this option extends")
        return problems
    schema = SCHEMAS[(group, parent)]
    defaults = schema_defaults(schema)
    for key, value in raw.items():
        if key == "defaults":
            continue
        if key not in defaults:
            problems.append(f"{key}: not a field of {schema.__name__}")
        elif key == "name":
            want = defaults["name"] if group == "algo" else option
            if value != want:
                problems.append(f"name: {value!r}, but this option is {want!r}")
        elif defaults[key] is MISSING or defaults[key] is None:
            if value is None:
                problems.append(f"{key}: null repeats the schema's (unset) default")
        elif defaults[key] == value:
            problems.append(f"{key}: {value!r} repeats {schema.__name__}'s default; say it only there ({schema.__module__})")
        else:
            problems.append(
                f"{key}: {value!r} differs from {schema.__name__}'s default {defaults[key]!r}; "
                f"a default lives in its schema only (change it in {schema.__module__})"
            )
    return problems


@pytest.mark.parametrize("group, option", OPTIONS)
def test_each_option_yaml_says_each_default_once(group, option):
    problems = restated(group, option, (CONFIGS / group / f"{option}.yaml").read_text())
    assert not problems, f"configs/{group}/{option}.yaml: " + "; ".join(problems)


def test_the_check_catches_a_restated_default():
    header = "defaults:\n  - /schema/algo/reinforce@_here_\n  - _self_\nname: reinforce\n"
    assert restated("algo", "reinforce", header) == []
    assert "differs from ReinforceConfig's default" in restated("algo", "reinforce", header + "lr: 0.5\n")[0]
    assert "repeats ReinforceConfig's default" in restated("algo", "reinforce", header + "gamma: 0.99\n")[0]
    assert "not a field" in restated("algo", "reinforce", header + "lrr: 0.5\n")[0]
    env = "defaults:\n  - /schema/env/env@_here_\nname: cartpole\nid: CartPole-v1\nsolve_window: 100\n"
    assert restated("env", "cartpole", env) == []  # an env's identity
    assert "differs from EnvConfig's default" in restated("env", "cartpole", env + "pipeline_groups: 2\n")[0]
    child = "defaults:\n  - a2c\n  - _self_\nnum_envs: 1\n"
    assert restated("algo", "ac_online", child) == []
    assert "repeats the value of algo=a2c" in restated("algo", "ac_online", child + f"gamma: {schema('a2c').gamma}\n")[0]


def test_ac_online_extends_a2c():
    raw = yaml.safe_load((CONFIGS / "algo" / "ac_online.yaml").read_text())
    assert _parent("algo", raw) == ("option", "a2c")


def _compose(*overrides: str):
    with initialize_config_dir(CONFIG_DIR, version_base="1.3"):
        return compose("config", overrides=["~tuned", *overrides])  # the tuned files are per (algo, env) overrides


@pytest.mark.parametrize("group, option", OPTIONS)
def test_composed_option_equals_the_schema_defaults_and_its_yaml(group, option):
    """Composing ``group=option`` gives the schema's defaults with only the option's own YAML values on top."""
    cfg = _compose(f"{group}={option}")
    composed = OmegaConf.to_container(cfg[group], enum_to_str=True)
    schema, expected = resolved_defaults(group, option)
    assert composed == {k: (float(v) if isinstance(composed.get(k), float) else v) for k, v in expected.items()}
    if group == "algo" and _parent(group, yaml.safe_load((CONFIGS / group / f"{option}.yaml").read_text()))[0] == "schema":
        assert composed == schema_defaults(schema)  # an algorithm's YAML adds nothing: its defaults are the dataclass's


def test_top_level_defaults_are_the_schemas():
    cfg = _compose()
    composed = {k: v for k, v in OmegaConf.to_container(cfg).items() if k not in GROUPS}
    expected = {k: v for k, v in schema_defaults(Config).items() if k not in GROUPS}
    assert composed == expected
    assert (cfg.algo.name, cfg.env.name, cfg.device.name) == ("reinforce", "cartpole", "auto")


# ----------------------------------------------------------------------------------------------------------------------
# Tables of defaults in the README and docs


def _split_cell(cell: str) -> list[str]:
    """``[64, 64], tanh, mlp`` -> ``["[64, 64]", "tanh", "mlp"]``: commas outside brackets."""
    parts, depth, current = [], 0, ""
    for ch in cell:
        depth += ch == "["
        depth -= ch == "]"
        if ch == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += ch
    return [*parts, current.strip()]


def _value(text: str) -> Any:
    text = text.split(";")[0].strip()  # "0; 8 in tuned/reinforce_pong.yaml": the default, then notes
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    if text in ("true", "false"):
        return text == "true"
    if text == "null":
        return None
    if text.startswith("["):
        return yaml.safe_load(text)
    return text


def _section(text: str, heading: str) -> str:
    """The lines of the ``## heading...`` section of a Markdown text (to the next ``## ``), or all of it without one."""
    if not heading:
        return text
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"## {heading}"))
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    return "\n".join(lines[start:end])


def default_tables(path: Path, heading: str = "") -> list[tuple[str, Any]]:
    """``(key, default)`` for every row of the file's tables (of its ``## heading`` section when given) whose header
    starts ``| key | default``."""
    rows, in_table = [], False
    for line in _section(path.read_text(), heading).splitlines():
        if re.match(r"\| key \| default", line):
            in_table = True
            continue
        if not line.startswith("|"):
            in_table = False
        if not in_table or line.startswith("|---"):
            continue
        key_cell, default_cell = [c.strip() for c in line.strip("|").split("|")][:2]
        keys = re.findall(r"`([^`]+)`", key_cell)
        values = _split_cell(default_cell)
        assert len(keys) == len(values), f"{path.name}: {line}"
        rows += [(k, _value(v)) for k, v in zip(keys, values, strict=True)]
    return rows


# Each file's (or file#section's) tables: the schema a bare key belongs to (None: keys are dotted from the top level)
TABLES = {
    "README.md": None,
    "docs/algorithms.md#Actor-critic": schema("a2c"),
    "docs/algorithms.md#DDPG": schema("ddpg"),
    "docs/pong.md": PongConfig,
}
README_SCHEMAS = {"algo": schema("reinforce"), "env": EnvConfig, "device": DeviceConfig}  # the README's algo table is REINFORCE's


def _schema_default(key: str, schema: type | None) -> Any:
    if schema is not None:
        return schema_defaults(schema)[key]
    if key in GROUPS:  # the group's default option, e.g. `device` -> auto
        return OmegaConf.select(_compose(), f"{key}.name")
    head, _, rest = key.partition(".")
    if rest:
        return schema_defaults(README_SCHEMAS[head])[rest]
    return schema_defaults(Config)[key]


@pytest.mark.parametrize("doc", sorted(TABLES))
def test_tables_of_defaults_agree_with_the_schema(doc):
    path, _, heading = doc.partition("#")
    rows = default_tables(ROOT / path, heading)
    assert rows, f"{doc}: no table of defaults found"
    expected = {key: _schema_default(key, TABLES[doc]) for key, _ in rows}
    wrong = [f"{key}: {value!r} != {expected[key]!r}" for key, value in rows if value != expected[key]]
    assert not wrong, f"{doc}: " + "; ".join(wrong)
