"""The algorithm registry: config name -> class. Each algorithm lives in its own file, named as in configs/algo/.

The registry names each class by module and attribute, and says which action types it can drive, so that checking a
command (``algo=ddpg env=cartpole`` is refused) imports neither the algorithms nor torch: a refused command answers in
a fraction of a second. :func:`algo_class` imports the one algorithm a run needs.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pgtrain.errors import PgtrainError

if TYPE_CHECKING:
    from pgtrain.algos.base import Algorithm


@dataclass(frozen=True)
class AlgoEntry:
    module: str  # the module that defines the class
    cls: str  # the class's name there
    action_types: frozenset[str]  # the env action types it can drive: discrete, continuous


BOTH = frozenset({"discrete", "continuous"})

ALGOS: dict[str, AlgoEntry] = {
    "reinforce": AlgoEntry("pgtrain.algos.reinforce", "Reinforce", BOTH),
    "a2c": AlgoEntry("pgtrain.algos.a2c", "A2C", BOTH),
    "ddpg": AlgoEntry("pgtrain.algos.ddpg", "DDPG", frozenset({"continuous"})),
    "ppo": AlgoEntry("pgtrain.algos.ppo", "PPO", BOTH),
    "td3": AlgoEntry("pgtrain.algos.td3", "TD3", frozenset({"continuous"})),
    "sac": AlgoEntry("pgtrain.algos.sac", "SAC", frozenset({"continuous"})),
}


def _entry(name: str) -> AlgoEntry:
    try:
        return ALGOS[name]
    except KeyError:
        raise PgtrainError(f"unknown algorithm {name!r}; choose one of: {', '.join(sorted(ALGOS))}") from None


def algo_class(name: str) -> type[Algorithm]:
    """The class of algorithm ``name`` (imports its module, and torch)."""
    entry = _entry(name)
    return getattr(importlib.import_module(entry.module), entry.cls)


def check_action_type(algo: str, env: str, action_type: str) -> None:
    """Refuse an algorithm that cannot drive the env's action space, before anything runs (imports nothing)."""
    kinds = _entry(algo).action_types
    if action_type not in kinds:
        raise PgtrainError(
            f"algo={algo} needs {' or '.join(sorted(kinds))} actions, but env={env} has {action_type} actions; pick another algo or env"
        )
