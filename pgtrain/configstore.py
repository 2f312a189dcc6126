"""The schemas in Hydra's ConfigStore, and saved configs re-typed against them.

The top level's, the envs' and the device's schemas live in :mod:`pgtrain.config`; each algorithm's in its module,
found by :mod:`pgtrain.algos`. This module sits above both, so that neither imports the other to register or re-type.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from pgtrain.algos import registry, schema
from pgtrain.config import ENV_SCHEMAS, AtariConfig, Config, DeviceConfig, EnvConfig, PongConfig, one_line
from pgtrain.errors import PgtrainError


def register_configs() -> None:
    """Put every schema in Hydra's ConfigStore, under ``schema/<group>/<name>``; each YAML option starts from one."""
    cs = ConfigStore.instance()
    cs.store(name="base_config", node=Config)
    for name, entry in registry().items():
        cs.store(group="schema/algo", name=name, node=entry.schema)
    cs.store(group="schema/env", name="env", node=EnvConfig)
    cs.store(group="schema/env", name="pong", node=PongConfig)
    cs.store(group="schema/env", name="atari", node=AtariConfig)
    cs.store(group="schema/device", name="device", node=DeviceConfig)


# Options an algorithm's schema no longer has, each with the one value it ever accepted: a saved config holding that
# value loads without the key (ddpg, td3 and sac lost ``network``, always mlp, on 2026-12-07); any other key that does
# not fit the schema is refused.
DROPPED_ALGO_OPTIONS: dict[str, Any] = {"network": "mlp"}


def typed_config(plain: dict[str, Any]) -> DictConfig:
    """Re-type a saved, plain config (a checkpoint's) against the schemas, as Hydra's composition would."""
    try:
        base = OmegaConf.structured(Config)
        algo_schema = schema(plain["algo"]["name"])
        base.algo = OmegaConf.structured(algo_schema)
        base.env = OmegaConf.structured(ENV_SCHEMAS.get(plain["env"]["name"], EnvConfig))
        base.device = OmegaConf.structured(DeviceConfig)
        known = {f.name for f in dataclasses.fields(algo_schema)}
        dropped = {k for k, v in plain["algo"].items() if k not in known and k in DROPPED_ALGO_OPTIONS and v == DROPPED_ALGO_OPTIONS[k]}
        algo = {k: v for k, v in plain["algo"].items() if k not in dropped}
        return OmegaConf.merge(base, {**{k: v for k, v in plain.items() if k != "hydra"}, "algo": algo})
    except (KeyError, TypeError, OmegaConfBaseException) as ex:
        raise PgtrainError(f"the saved config does not fit this pgtrain's schemas: {one_line(str(ex))}") from None
