"""Everything about a command that can be checked before torch loads: keys, types and ranges (the schemas in
:mod:`pgtrain.config`), the env (:func:`pgtrain.envs.specs.check_env`) and that the algorithm can drive its actions (the
registry in :mod:`pgtrain.algos`) and read its observations (images: a CNN). It stands above all three, so none of
them imports another to check a command."""

from __future__ import annotations

from omegaconf import DictConfig

from pgtrain.algos import check_action_type, registry
from pgtrain.config import Config, to_object
from pgtrain.envs.specs import check_env, image_shape
from pgtrain.errors import PgtrainError
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
    check_images(obj)
    return obj


def check_images(cfg: Config) -> None:
    """Image observations (a generic env's, env=atari's) are read by the CNN: chosen for them (the MLP would read 84x84x4 pixels as
    28,224 unrelated numbers); an algorithm without a CNN is refused naming those with one."""
    shape = image_shape(cfg.env)
    if shape is None:
        return
    algo = cfg.algo
    if not hasattr(algo, "network"):  # no torso option: MLPs on vector observations only (DDPG, TD3, SAC)
        with_cnn = [f"algo={name}" for name, entry in registry().items() if "network" in entry.schema.__dataclass_fields__]
        raise PgtrainError(
            f"algo={algo.name}'s networks are MLPs on vector observations, but {cfg.env.id} gives images (frame stacks of "
            f"{'x'.join(map(str, shape))}): use {', '.join(with_cnn[:-1])} or {with_cnn[-1]}, which read them with a CNN"
        )
    algo.network = "cnn"
