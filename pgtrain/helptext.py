"""The options part of ``pgtrain --help [overrides]``: every option of the composed config with its value, its one-line
meaning (the schema's field comment, :func:`pgtrain.config.option_meanings`) and, where the value is not the schema's
default, where it comes from: the chosen option's YAML (``algo=ac_online``, an env's identity), the tuned preset of
the (algo, env) pair (``configs/tuned/<algo>_<env>.yaml``) or the command line. Imports no torch."""

from __future__ import annotations

import dataclasses
import enum
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig, OmegaConf

from pgtrain.config import ENV_SCHEMAS, MISSING, Config, DeviceConfig, EnvConfig, option_meanings

GROUPS = ("algo", "env", "device")
COLUMN = 34  # where the meanings start, unless a key and value are wider


def options_help(cfg: DictConfig, config_dir: Path, choices: dict[str, str], overrides: list[str]) -> str:
    """The annotated options of ``cfg`` (composed from ``config_dir`` with ``choices`` per group and ``overrides``)."""
    from pgtrain.algos import schema

    tuned_file = config_dir / "tuned" / f"{choices['algo']}_{choices['env']}.yaml"
    tuned = _flat(yaml.safe_load(tuned_file.read_text()) or {}) if tuned_file.is_file() else {}
    given = {o.split("=", 1)[0].lstrip("+~") for o in overrides if "=" in o}
    root = config_dir.parent

    def source(key: str, group: str | None, value: Any, default: Any) -> str:
        if key in given:
            return "command line"
        if key in tuned:
            return "tuned"
        if group is not None and value != default:
            return str((config_dir / group / f"{choices[group]}.yaml").relative_to(root))
        return ""

    legend = ["Each option: its value, its meaning; in [brackets], where a value that is not the schema's default comes from."]
    if tuned:
        legend.append(f"[tuned]: from {tuned_file.relative_to(root)}, the tuned preset of algo={choices['algo']} env={choices['env']}.")
    schemas: dict[str | None, type] = {
        None: Config,
        "algo": schema(str(cfg.algo.name)),
        "env": ENV_SCHEMAS.get(str(cfg.env.name), EnvConfig),
        "device": DeviceConfig,
    }
    sections = ["\n".join(legend)]
    for group, cls in schemas.items():
        node = cfg if group is None else cfg[group]
        values = OmegaConf.to_container(node, resolve=True, enum_to_str=True)
        assert isinstance(values, dict)
        meanings = option_meanings(cls)
        defaults = _defaults(cls)
        title = "top level:" if group is None else f"{group}: {choices[group]}"
        lines = [title]
        for field in dataclasses.fields(cls):
            if group is None and field.name in GROUPS:
                continue
            key = field.name if group is None else f"{group}.{field.name}"
            value, default = values[field.name], defaults[field.name]
            where = source(key, group, value, default)
            mark = ""
            if where:
                mark = f" [{where}" + ("" if default == MISSING else f"; default {_show(default)}") + "]"
            lines.append(f"{f'  {field.name}: {_show(value)}':<{COLUMN}} # {meanings[field.name]}{mark}")
        sections.append("\n".join(lines))
    return "\n\n".join(sections)


def _flat(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"algo": {"lr": 1}}`` -> ``{"algo.lr": 1}`` (a tuned file's keys, from the config's root)."""
    out: dict[str, Any] = {}
    for k, v in tree.items():
        if k == "defaults":
            continue
        if isinstance(v, dict) and v:
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _defaults(cls: type) -> dict[str, Any]:
    out = {}
    for f in dataclasses.fields(cls):
        value = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        out[f.name] = value.value if isinstance(value, enum.Enum) else value
    return out


def _show(value: Any) -> str:
    """A value as it is written on the command line: 0.00025, [64, 64], null, true."""
    return yaml.safe_dump(value, default_flow_style=True, width=10**9).strip().removesuffix("...").strip()
