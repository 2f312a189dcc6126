"""The algorithm registry: config name -> class. Each algorithm lives in its own file, named as in configs/algo/."""

from __future__ import annotations

from pgtrain.algos.a2c import A2C
from pgtrain.algos.base import Algorithm
from pgtrain.algos.ddpg import DDPG
from pgtrain.algos.ppo import PPO
from pgtrain.algos.reinforce import Reinforce
from pgtrain.algos.sac import SAC
from pgtrain.algos.td3 import TD3
from pgtrain.errors import PgtrainError

ALGOS: dict[str, type[Algorithm]] = {cls.name: cls for cls in (Reinforce, A2C, DDPG, PPO, TD3, SAC)}


def algo_class(name: str) -> type[Algorithm]:
    try:
        return ALGOS[name]
    except KeyError:
        raise PgtrainError(f"unknown algorithm {name!r}; choose one of: {', '.join(sorted(ALGOS))}") from None


def check_action_type(algo: str, env: str, action_type: str) -> None:
    """Refuse an algorithm that cannot drive the env's action space, before anything runs."""
    cls = algo_class(algo)
    if action_type not in cls.action_types:
        kinds = " or ".join(sorted(cls.action_types))
        raise PgtrainError(f"algo={algo} needs {kinds} actions, but env={env} has {action_type} actions; pick another algo or env")
