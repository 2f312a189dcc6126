"""The algorithm registry, found from the files: an algorithm is ``pgtrain/algos/<name>.py`` beside
``configs/algo/<name>.yaml``, and nothing else names it (a YAML without a module, ``ac_online``, is a preset of
another algorithm's options).

An algorithm's module opens with its declaration, above the line :data:`DECLARATION_END`:

- its config schema, a dataclass extending :class:`pgtrain.config.AlgoConfig` (or ``OffPolicyConfig``) whose ``name``
  default is the module's name, each field with a one-line meaning in a comment;
- ``ACTION_TYPES``, the env action types it can drive (``discrete``, ``continuous``).

Below the line come its imports of torch and its class, an :class:`~pgtrain.algos.base.Algorithm` whose ``name`` is the
module's name.

Why the line: composing a config, ``pgtrain --help`` and the refusal of a bad command need the schema, never torch, so
that they answer in a fraction of torch's import time. The registry therefore loads an algorithm's module in two
steps, both into the one module object in ``sys.modules``: first the text above the line (dataclasses and
:mod:`pgtrain.config`, no torch), then the rest, the first time anything below the line is asked for (:func:`algo_class`,
or ``from pgtrain.algos.ppo import PPO``). A plain ``import pgtrain.algos.ppo`` before either runs the whole file at
once, as Python always does. Either way a process holds one module and one schema class per algorithm, and tracebacks
and ``inspect`` see the file's own line numbers.
"""

from __future__ import annotations
import __future__

import functools
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from pgtrain.errors import PgtrainError

if TYPE_CHECKING:
    from pgtrain.algos.base import Algorithm
    from pgtrain.config import AlgoConfig

ALGOS_DIR = Path(__file__).resolve().parent
CONFIG_ALGO_DIR = ALGOS_DIR.parent.parent / "configs" / "algo"
DECLARATION_END = "# ---- end of the declaration; the algorithm below imports torch ----"
ACTION_TYPES = frozenset({"discrete", "continuous"})
_FUTURE_FLAGS = functools.reduce(lambda a, b: a | b, (getattr(__future__, f).compiler_flag for f in __future__.all_feature_names))


@dataclass(frozen=True)
class AlgoEntry:
    name: str  # the algorithm's name: its module's and its YAML's
    schema: type[AlgoConfig]  # its config schema
    action_types: frozenset[str]  # the env action types it can drive: discrete, continuous


def names() -> list[str]:
    """The algorithms' names: each module in pgtrain/algos/ that has a YAML of its name in configs/algo/."""
    return sorted(p.stem for p in CONFIG_ALGO_DIR.glob("*.yaml") if (ALGOS_DIR / f"{p.stem}.py").is_file())


@functools.cache
def registry() -> dict[str, AlgoEntry]:
    """Every algorithm's entry, read from the declarations (imports no torch)."""
    return {name: _entry_of(name, declaration(name)) for name in names()}


def __getattr__(attr: str) -> Any:
    if attr == "ALGOS":  # the registry under its older name
        return registry()
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")


def entry(name: str) -> AlgoEntry:
    try:
        return registry()[name]
    except KeyError:
        raise PgtrainError(f"unknown algorithm {name!r}; choose one of: {', '.join(registry())}") from None


def schema(name: str) -> type[AlgoConfig]:
    """The config schema of algorithm ``name`` (imports no torch)."""
    return entry(name).schema


def algo_class(name: str) -> type[Algorithm]:
    """The class of algorithm ``name`` (runs the rest of its module, and so imports torch)."""
    from pgtrain.algos.base import Algorithm

    module = _complete(declaration(entry(name).name))
    found = [v for v in vars(module).values() if isinstance(v, type) and issubclass(v, Algorithm) and v.__dict__.get("name") == name]
    if len(found) != 1:
        raise PgtrainError(f"{module.__file__}: expected one Algorithm subclass with name = {name!r}, found {len(found)}")
    return found[0]


def check_action_type(algo: str, env: str, action_type: str) -> None:
    """Refuse an algorithm that cannot drive the env's action space, before anything runs (imports no torch)."""
    kinds = entry(algo).action_types
    if action_type not in kinds:
        raise PgtrainError(
            f"algo={algo} needs {' or '.join(sorted(kinds))} actions, but env={env} has {action_type} actions; pick another algo or env"
        )


# ----------------------------------------------------------------------------------------------------------------------
# Loading a module in two steps


def declaration(name: str) -> ModuleType:
    """Module ``pgtrain.algos.<name>`` with at least its declaration run (all of it, if it was imported already)."""
    modname = f"{__name__}.{name}"
    if modname in sys.modules:
        return sys.modules[modname]
    path = ALGOS_DIR / f"{name}.py"
    source = path.read_text()
    cut = source.find("\n" + DECLARATION_END + "\n")
    if cut < 0:
        raise PgtrainError(f"{path}: no line {DECLARATION_END!r} after its declaration (see pgtrain/algos/__init__.py)")
    spec = importlib.util.spec_from_file_location(modname, path)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    head = compile(source[: cut + 1], str(path), "exec", dont_inherit=True)
    sys.modules[modname] = module
    try:
        exec(head, module.__dict__)
    except BaseException:
        del sys.modules[modname]
        raise
    # the rest: compiled with the head's __future__ flags, and offset so its line numbers are the file's
    rest = "\n" * source.count("\n", 0, cut + 1) + source[cut + 1 :]
    module.__dict__["__pgtrain_rest__"] = (rest, head.co_flags & _FUTURE_FLAGS)
    module.__dict__["__getattr__"] = functools.partial(_rest_attribute, module)
    setattr(sys.modules[__name__], name, module)
    return module


def _complete(module: ModuleType) -> ModuleType:
    """Run the rest of a module whose declaration alone was run; a module run whole is returned as it is."""
    pending = module.__dict__.pop("__pgtrain_rest__", None)
    if pending is not None:
        module.__dict__.pop("__getattr__", None)
        rest, flags = pending
        exec(compile(rest, str(module.__file__), "exec", flags=flags, dont_inherit=True), module.__dict__)
    return module


def _rest_attribute(module: ModuleType, attr: str) -> Any:
    """A module's ``__getattr__`` while only its declaration has run: any other name runs the rest first."""
    if attr.startswith("__"):  # dunder probes (copy, pickle, doctest) must not pull in torch
        raise AttributeError(attr)
    try:
        return getattr(_complete(module), attr)
    except AttributeError:
        raise AttributeError(f"module {module.__name__!r} has no attribute {attr!r}") from None


def _entry_of(name: str, module: ModuleType) -> AlgoEntry:
    from pgtrain.config import AlgoConfig

    where = f"pgtrain/algos/{name}.py"
    schemas = [
        v
        for v in vars(module).values()
        if isinstance(v, type) and issubclass(v, AlgoConfig) and v.__module__ == module.__name__ and v.__dict__.get("name") == name
    ]
    if len(schemas) != 1:
        raise PgtrainError(f"{where}: expected one schema (a dataclass extending AlgoConfig with name = {name!r}), found {len(schemas)}")
    kinds = frozenset(module.__dict__.get("ACTION_TYPES", ()))
    if not kinds or not kinds <= ACTION_TYPES:
        raise PgtrainError(f"{where}: ACTION_TYPES must name one or both of {', '.join(sorted(ACTION_TYPES))}")
    return AlgoEntry(name, schemas[0], kinds)
