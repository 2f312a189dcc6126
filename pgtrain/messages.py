"""What pgtrain tells its user in words of its own: the config library's errors turned into one line that names the key,
what it takes and a value that works; the command line's overrides checked before composition (a key given twice, an
integer written as ``1e6``); where a run went, and what to run next.

No torch here, nor anything slow to import: every refused command passes through this module before torch loads.
"""

from __future__ import annotations

import difflib
import json
import re
import shlex
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigNode, ConfigStore
from hydra.errors import MissingConfigException
from omegaconf import DictConfig, IntegerNode, ListConfig, OmegaConf, ValueNode
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, MissingMandatoryValue, OmegaConfBaseException, ValidationError

from pgtrain.errors import PgtrainError

# what each of OmegaConf's conversions expects, in a user's words
TYPE_WORDS = {"Integer": "an integer", "Float": "a number", "Boolean": "true or false", "String": "a string", "List": "a list"}
EXAMPLES = {"Integer": "1000", "Float": "0.5", "Boolean": "true", "String": "VALUE", "List": "[64,64]"}
# a number that is a whole number however it is written: 1e6, 2.5e3, 1000.0 (not 1e-3, not 2.5)
_WHOLE = re.compile(r"(?<![\w.])[+-]?\d+(?:\.\d*)?(?:[eE]\+?\d+)?(?![\w.])")


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The choice nearest to ``word`` (case first ignored, then by difflib's ratio), or None when none is close."""
    choices = list(choices)
    lowered = {c.lower(): c for c in choices}
    if word.lower() in lowered:
        return lowered[word.lower()]
    found = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
    return lowered[found[0]] if found else None


def _did_you_mean(word: str, choices: Iterable[str], render: str = "{}") -> str:
    best = closest(word, choices)
    return f"; did you mean {render.format(best)}?" if best is not None else ""


# ----------------------------------------------------------------------------------------------------------------------
# Before composition


def override_key(arg: str) -> str | None:
    """``seed`` of ``seed=1``, ``+env.kwargs.x`` -> ``env.kwargs.x``, ``algo`` of ``algo=ppo``; None for a flag."""
    if arg.startswith("-") or "=" not in arg:
        return None
    return arg.split("=", 1)[0].lstrip("+~")


def check_overrides(args: Sequence[str]) -> list[str]:
    """The command line's overrides before Hydra reads them: a key given twice is refused (Hydra would keep the last
    silently); a whole number written as a float (``total_steps=1e6``) is rewritten as an integer where the option
    takes one. Returns the arguments to compose with."""
    seen: dict[str, str] = {}
    for arg in args:
        key = override_key(arg)
        if key is None:
            continue
        if key in seen:
            raise PgtrainError(f"{key} is given twice ({seen[key]} and {arg}): give it once (a sweep takes a list: {key}=a,b with -m)")
        seen[key] = arg
    return [_whole_numbers(arg) if (key := override_key(arg)) and _takes_integer(key) else arg for arg in args]


def _whole_numbers(arg: str) -> str:
    key, value = arg.split("=", 1)

    def fix(m: re.Match[str]) -> str:
        number = float(m.group())
        return str(int(number)) if number.is_integer() and abs(number) < 2**63 else m.group()

    return f"{key}={_WHOLE.sub(fix, value)}"


def _schemas(first: str | None) -> list[DictConfig]:
    """The registered schemas a key's first part can land in: the root configs for a top-level key, else every
    schema in a ConfigStore group named like that part (``schema/algo/*`` for ``algo.lr``)."""
    out: list[DictConfig] = []

    def walk(tree: dict[str, Any], group: str) -> None:
        for name, entry in tree.items():
            if isinstance(entry, dict):
                walk(entry, f"{group}/{name}" if group else name)
            elif isinstance(entry, ConfigNode) and isinstance(entry.node, DictConfig):
                if (first is None and not group) or (first is not None and group.split("/")[-1] == first):
                    out.append(entry.node)

    walk(ConfigStore.instance().repo, "")
    return out


def _takes_integer(key: str) -> bool:
    """Whether ``key`` is an integer option in a schema it can land in."""
    first, _, rest = key.partition(".")
    candidates = [(node, key) for node in _schemas(None)]
    if rest:
        candidates += [(node, rest) for node in _schemas(first)]
    for node, path in candidates:
        parent_path, _, leaf = path.rpartition(".")
        parent = OmegaConf.select(node, parent_path, throw_on_missing=False) if parent_path else node
        if isinstance(parent, DictConfig) and leaf in parent and isinstance(parent._get_node(leaf), IntegerNode):
            return True
    return False


# ----------------------------------------------------------------------------------------------------------------------
# After a failed composition


def explain(ex: BaseException) -> str | None:
    """One line for a Hydra or OmegaConf error that names the key and the fix; None when there is nothing to add to
    the library's own words."""
    if isinstance(ex, MissingConfigException) and ex.options:
        return _missing_option(ex)
    cause = ex if isinstance(ex, OmegaConfBaseException) else ex.__cause__
    if not isinstance(cause, OmegaConfBaseException) or not getattr(cause, "full_key", None):
        return None
    key = str(cause.full_key)
    if isinstance(cause, MissingMandatoryValue):
        return f"{key} has no value: set it, e.g. {key}=VALUE"
    if isinstance(cause, (ConfigAttributeError, ConfigKeyError)) and str(cause.msg).startswith("Key "):
        return _unknown_key(key, cause)
    if isinstance(cause, ValidationError):
        return _wrong_value(key, cause)
    return None


def _missing_option(ex: MissingConfigException) -> str | None:
    m = re.search(r"Could not find '([^']+)/([^'/]+)'", str(ex))
    if m is None:
        return None
    group, option = m.groups()
    options = sorted(ex.options or [])
    return f"{group}={option}: no such {group}{_did_you_mean(option, options, f'{group}={{}}')} (choose one of {', '.join(options)})"


def _unknown_key(key: str, cause: OmegaConfBaseException) -> str:
    prefix, _, leaf = key.rpartition(".")
    owner = cause.object_type
    fields = list(getattr(owner, "__dataclass_fields__", {}))
    own_name = getattr(owner, "name", None) if prefix else None
    where = f"{prefix}={own_name}" if isinstance(own_name, str) else (prefix or "pgtrain")
    hint = _did_you_mean(leaf, fields, f"{prefix}.{{}}" if prefix else "{}")
    return f"{key}: {where} has no such option{hint} (pgtrain --help lists the options)"


def _wrong_value(key: str, cause: ValidationError) -> str:
    msg = str(cause.msg).splitlines()[0]
    given = cause.value
    choices = re.search(r"expected one of \[([^\]]*)\]", msg)
    if choices:
        names = [c.strip() for c in choices.group(1).split(",")]
        return f"{key}={given}: {key} takes one of {', '.join(names)}{_did_you_mean(str(given), names, f'{key}={{}}')}"
    kind = re.search(r"could not be converted to (\w+)", msg)
    if "is not a valid bool" in msg:
        wanted = "Boolean"
    elif "is not a ListConfig" in msg:
        wanted = "List"
    elif kind is not None:
        wanted = kind.group(1)
    else:
        return f"{key}={given}: {msg}"
    example = _example(wanted, given, cause)
    return f"{key}={given}: {key} takes {TYPE_WORDS.get(wanted, wanted)}, e.g. {key}={example}"


def _example(wanted: str, given: Any, cause: ValidationError) -> str:
    """A value that works: the given float rounded for an integer option, else the option's current value."""
    if wanted == "Integer" and isinstance(given, float) and given == given and abs(given) < 2**63:
        return str(round(given))
    node = cause.child_node
    if isinstance(node, ListConfig) and not node._is_missing() and not node._is_none():
        return "[" + ",".join(str(v) for v in node) + "]"
    current = node._value() if isinstance(node, ValueNode) else None
    if current is None or current == "???":
        return EXAMPLES.get(wanted, "VALUE")
    current = getattr(current, "value", current)  # an enum member: its name
    return str(current).lower() if isinstance(current, bool) else str(current)


# ----------------------------------------------------------------------------------------------------------------------
# Where a run went


def shown(path: Path | str) -> str:
    """``path`` as a user pastes it into a shell: relative to the current directory when inside it, quoted when needed."""
    path = Path(path).absolute()
    try:
        path = path.relative_to(Path.cwd())
    except ValueError:
        pass
    return shlex.quote(str(path))


def run_started(run_dir: Path | str) -> str:
    return f"pgtrain: run directory {shown(run_dir)}"


def run_finished(summary: dict[str, Any], run_dir: Path | str) -> list[str]:
    """The lines a finished run ends with: what it did, its final return (and which), when it was solved, where its
    checkpoint is, and the commands that show its curves and play its policy."""
    from pgtrain.curves import FINAL_WINDOW  # here: numpy stays out of a refused command's imports

    run_dir = Path(run_dir)
    steps, episodes, wall = summary["env_steps"], summary["episodes"], summary["wall_time_s"]
    rate = f"{summary['steps_per_second']:,.0f} env steps/s"
    lines = [f"pgtrain: finished {steps:,} env steps, {episodes:,} episodes in {_duration(wall)} ({rate})"]
    final, counted = summary.get("final_return"), summary.get("final_return_episodes")
    if final is None:
        lines.append("  final return: n/a (no training episode finished)")
    else:
        which = f"the last {counted}" if counted == FINAL_WINDOW else f"all {counted}"
        lines.append(f"  final return: {final:,.2f} (mean return of {which} training episodes)")
    threshold, window, solved = summary.get("solve_threshold"), summary.get("solve_window"), summary.get("solved")
    if threshold is not None:
        goal = f"mean return of {window} episodes >= {threshold:g}"
        if solved:
            when = f"{solved['env_steps']:,} env steps after {_duration(solved['wall_time_s'])}"
            lines.append(f"  solved at: {when} ({goal})")
        else:
            lines.append(f"  not solved ({goal})")
    lines += [
        f"  checkpoint: {shown(run_dir / 'checkpoints' / 'last.pt')}",
        f"  curves:     tensorboard --logdir {shown(run_dir)}",
        f"  evaluate:   pgtrain-eval {shown(run_dir)}",
    ]
    return lines


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {secs:02d} s"


# ----------------------------------------------------------------------------------------------------------------------
# Where a sweep went

SHOWN_JOBS = 20  # jobs listed when a sweep ends; pgtrain-report lists them all


def _overrides(path: Path, select: str | None = None) -> list[str]:
    if not path.is_file():
        return []
    node = OmegaConf.load(path)
    found = OmegaConf.select(node, select) if select else node
    return [str(o) for o in found] if found is not None else []


def job_label(job_dir: Path) -> str:
    """``job 3 seed=1 algo.lr=0.003``: the job number and the overrides that set it apart from the sweep's command line
    (a sweep's lists and ranges, or what a sweeper such as Optuna drew), long floats shortened."""
    num = job_dir.name.split("_", 1)[0]
    swept = set(_overrides(job_dir.parent / "multirun.yaml", "hydra.overrides.task"))
    own = [o for o in _overrides(job_dir / ".hydra" / "overrides.yaml") if o not in swept]
    own = [re.sub(r"(?<==)-?\d+\.\d{5,}(?:e-?\d+)?\b", lambda m: f"{float(m.group()):.4g}", o) for o in own]
    return " ".join([f"job {num}", *own])


def sweep_started(sweep_dir: Path) -> str:
    return f"pgtrain: sweep directory {shown(sweep_dir)}"


def sweep_finished(sweep_dir: Path) -> list[str]:
    """The lines a sweep ends with: each job's final return (or that it did not finish), then the commands that
    compare the jobs and show their curves."""
    from pgtrain.curves import FINAL_RETURN_WORDS

    jobs = sorted(
        (p for p in sweep_dir.iterdir() if p.is_dir() and (p / ".hydra").is_dir() and p.name.split("_", 1)[0].isdigit()),
        key=lambda p: int(p.name.split("_", 1)[0]),
    )
    lines = [
        f"pgtrain: sweep finished: {len(jobs)} job(s) in {shown(sweep_dir)}",
        f"  (final return: each job's {FINAL_RETURN_WORDS})",
    ]
    for job in jobs[:SHOWN_JOBS]:
        lines.append(f"  {job_label(job)}: {_job_result(job)}")
    if len(jobs) > SHOWN_JOBS:
        lines.append(f"  ... and {len(jobs) - SHOWN_JOBS} more")
    lines += [
        f"  compare:  pgtrain-report {shown(sweep_dir)}",
        f"  curves:   tensorboard --logdir {shown(sweep_dir)}",
    ]
    return lines


def _job_result(job: Path) -> str:
    try:
        summary = json.loads((job / "summary.json").read_text())
    except (OSError, ValueError):
        return "not finished"
    final = summary.get("final_return")
    text = "final return n/a" if final is None else f"final return {final:,.2f}"
    solved = summary.get("solved")
    if summary.get("solve_threshold") is not None:
        text += f", solved at {solved['env_steps']:,} env steps" if solved else ", not solved"
    return text
