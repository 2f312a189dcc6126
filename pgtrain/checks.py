"""Everything about a command that can be checked before torch loads: keys, types and ranges (the schemas in
:mod:`pgtrain.config`), the env (:func:`pgtrain.envs.specs.check_env`) and that the algorithm can drive its actions (the
registry in :mod:`pgtrain.algos`). It stands above all three, so none of them imports another to check a command."""

from __future__ import annotations

from omegaconf import DictConfig

from pgtrain.algos import check_action_type
from pgtrain.config import Config, to_object
from pgtrain.envs.specs import check_env
from pgtrain.schedules import check as check_schedules


def check(cfg: DictConfig) -> Config:
    """Everything about a command that can be checked without torch: keys, types, ranges, the env (its id, its
    optional packages; a generic id's action type and solve threshold come from its spec and space), that no schedule
    is set twice, and that the algorithm can drive the env's actions. Returns the typed config."""
    obj = to_object(cfg)
    check_schedules(obj.algo)
    check_env(obj.env, obj.algo)
    label = obj.env.id if obj.env.name in ("gym", "atari") else obj.env.name
    check_action_type(obj.algo.name, label, obj.env.action_type.value)
    return obj
