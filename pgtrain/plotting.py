"""Learning curves of many runs in one PNG: ``pgtrain-plot RUNS... [--out PNG] [--tag TAG] [--window W] [--band minmax|std]``.

RUNS are run directories or folders holding them (a sweep's ``runs/multirun/<date>``): every directory under them with
TensorBoard event files is a run. The PNG goes beside them (into RUNS when one is given, else into the folder that
holds them all) unless ``--out`` says where. Runs whose configs differ only in the seed (and in settings that do not change
learning: budget, device, logging, checkpoints) form one group, drawn as one line: the mean over its runs of each run's
running-mean return, interpolated on a common env-step grid, with a shaded band (min to max over the runs, or ± one
standard deviation). The grid of a group spans the env steps that all its runs reached, so every point averages them all.
The legend gives each group's final return as ``pgtrain-report`` does (:func:`pgtrain.curves.mean_final_return`: the
mean over its runs of each run's mean return of its last 100 training episodes).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pgtrain.config import RUN_CONTROL_KEYS
from pgtrain.curves import FINAL_RETURN_WORDS, load_curve, mean_final_return, running_mean
from pgtrain.errors import PgtrainError
from pgtrain.files import AtomicPath
from pgtrain.tags import RETURN_TAG

# Runs differing only in these belong to one group.
IGNORED_KEYS = ("seed", "resume", "hydra", *RUN_CONTROL_KEYS)


@dataclass
class Group:
    """Runs that share a config up to the seed; ``label`` names it in the legend."""

    label: str
    runs: list[Path] = field(default_factory=list)


@dataclass
class Band:
    """A group's aggregated curve: ``steps``, ``mean``, ``low``, ``high`` as ``(P,)`` arrays over ``runs`` runs, and
    the group's final return (None for a tag other than the episode return, or with no episode)."""

    steps: np.ndarray
    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray
    runs: int
    final: float | None = None


# ----------------------------------------------------------------------------------------------------------------------
# Finding and grouping runs


def find_runs(paths: Sequence[Path]) -> list[Path]:
    """Every directory at or under ``paths`` that holds TensorBoard event files, in a stable order."""
    runs: list[Path] = []
    for path in map(Path, paths):
        if not path.exists():
            raise PgtrainError(f"{path}: no such file or directory")
        if path.is_file():
            path = path.parent
        found = {p.parent for p in path.rglob("events.out.tfevents.*")}
        if not found:
            raise PgtrainError(f"{path}: no TensorBoard event files at or under it (is it a pgtrain run or sweep directory?)")
        runs.extend(sorted(found - set(runs)))
    return runs


def _flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            out.update(_flatten(value, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: node}


def _ignored(key: str) -> bool:
    return any(key == k or key.startswith(k + ".") for k in IGNORED_KEYS)


def run_config(run: Path) -> dict[str, Any] | None:
    """The run's composed config (``.hydra/config.yaml``) flattened to ``{"algo.lr": 0.001, ...}``; None when absent."""
    from omegaconf import OmegaConf

    path = run / ".hydra" / "config.yaml"
    if not path.is_file():
        return None
    return _flatten(OmegaConf.to_container(OmegaConf.load(path), resolve=False))


def _run_label(run: Path, cfg: dict[str, Any]) -> str:
    """``<algo>-<env>`` plus the overrides the user typed (``.hydra/overrides.yaml``) that matter for learning."""
    from omegaconf import OmegaConf

    label = f"{cfg.get('algo.name', '?')}-{cfg.get('env.name', '?')}"
    path = run / ".hydra" / "overrides.yaml"
    if path.is_file():
        overrides = [str(o) for o in OmegaConf.to_container(OmegaConf.load(path))]
        kept = [o for o in overrides if (k := o.split("=", 1)[0].lstrip("+~")) not in ("algo", "env") and not _ignored(k)]
        label = " ".join([label, *kept])
    return label


def group_runs(runs: Sequence[Path]) -> list[Group]:
    """Group runs whose configs are equal once :data:`IGNORED_KEYS` (the seed among them) are left out."""
    groups: dict[Any, Group] = {}
    for run in runs:
        cfg = run_config(run)
        if cfg is None:  # not made by pgtrain's Hydra entry: a group of its own
            key: Any = ("dir", str(run))
            label = run.name
        else:
            key = tuple(sorted((k, repr(v)) for k, v in cfg.items() if not _ignored(k)))
            label = _run_label(run, cfg)
        groups.setdefault(key, Group(label)).runs.append(run)
    out = list(groups.values())
    seen: dict[str, int] = {}
    for group in out:  # the same overrides over different base configs: keep legend entries apart
        seen[group.label] = seen.get(group.label, 0) + 1
        if seen[group.label] > 1:
            group.label += f" #{seen[group.label]}"
    return out


# ----------------------------------------------------------------------------------------------------------------------
# Aggregating


def aggregate(runs: Sequence[Path], tag: str, window: int, points: int = 200, band: str = "minmax") -> Band | None:
    """Each run's running mean of ``tag`` over ``window`` points, interpolated on a grid of ``points`` env steps over the
    range every run covers; mean and band across runs. None when no run has two or more points of ``tag``."""
    curves = []
    for run in runs:
        c = load_curve(run, tag)
        if len(c.steps) >= 2:
            curves.append((c.steps.astype(np.float64), running_mean(c.values, window)))
        else:
            print(f"pgtrain-plot: skipping {run}: fewer than 2 points of {tag}", file=sys.stderr)
    if not curves:
        return None
    lo = max(x[0] for x, _ in curves)
    hi = min(x[-1] for x, _ in curves)
    if hi <= lo:  # the runs' ranges do not overlap: span them all (np.interp holds each run's end values)
        hi = max(x[-1] for x, _ in curves)
    grid = np.linspace(lo, hi, points)
    ys = np.stack([np.interp(grid, x, y) for x, y in curves])
    mean = ys.mean(axis=0)
    if band == "std":
        std = ys.std(axis=0)
        low, high = mean - std, mean + std
    else:
        low, high = ys.min(axis=0), ys.max(axis=0)
    return Band(grid, mean, low, high, len(curves))


def plot(
    groups: Sequence[Group], out: Path, tag: str = RETURN_TAG, window: int = 100, band: str = "minmax", points: int = 200
) -> list[tuple[str, Band]]:
    """Draw one line (and band) per group into the PNG ``out``; returns what was drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    logging.getLogger("tensorboard").setLevel(logging.ERROR)  # the purge notices of resumed runs are expected
    drawn = []
    for group in groups:
        b = aggregate(group.runs, tag, window, points, band)
        if b is not None:
            if tag == RETURN_TAG:
                b.final = mean_final_return(group.runs)[0]
            drawn.append((group.label, b))
    if not drawn:
        raise PgtrainError(f"no run has two or more points of {tag!r}; pick another --tag (e.g. {RETURN_TAG} or eval/mean_return)")
    fig, ax = plt.subplots(figsize=(8, 5), dpi=120)
    for label, b in drawn:
        final = f", final return {b.final:,.1f}" if b.final is not None else ""
        (line,) = ax.plot(b.steps, b.mean, label=f"{label} (n={b.runs}{final})", linewidth=1.5)
        if b.runs > 1:
            ax.fill_between(b.steps, b.low, b.high, color=line.get_color(), alpha=0.2, linewidth=0)
    what = "min-max over runs" if band == "minmax" else "± 1 std over runs"
    smooth = f"running mean of {window}" if window > 1 else "raw"
    ax.set_xlabel("env steps")
    ax.set_ylabel(f"{tag} ({smooth})")
    ax.set_title(f"{tag}: mean over seeds, band = {what}", fontsize=10)
    ax.grid(alpha=0.3)
    title = f"final return: {FINAL_RETURN_WORDS}, mean over runs" if tag == RETURN_TAG else None
    ax.legend(fontsize=8, loc="best", title=title, title_fontsize=7)
    fig.tight_layout()
    with AtomicPath(out) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return drawn


# ----------------------------------------------------------------------------------------------------------------------
# The command


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="pgtrain-plot",
        description="Plot learning curves from the TensorBoard events of runs: one line per config, mean over seeds with a band.",
    )
    p.add_argument("runs", metavar="RUNS", nargs="+", type=Path, help="run directories, or folders holding runs (a sweep)")
    p.add_argument("--out", type=Path, default=None, help="PNG to write (default: returns.png in RUNS, or in the folder holding all RUNS)")
    p.add_argument("--tag", default=RETURN_TAG, help=f"scalar tag to plot (default: {RETURN_TAG})")
    p.add_argument("--window", type=int, default=None, help=f"running-mean window in points (default: 100 for {RETURN_TAG}, else 1)")
    p.add_argument("--band", choices=["minmax", "std"], default="minmax", help="shaded band: min-max over runs, or ± 1 std")
    p.add_argument("--points", type=int, default=200, help="points of the common env-step grid (default: 200)")
    return p


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    window = args.window if args.window is not None else (100 if args.tag == RETURN_TAG else 1)
    try:
        if window < 1 or args.points < 2:
            raise PgtrainError("--window must be >= 1 and --points >= 2")
        groups = group_runs(find_runs(args.runs))
        out = args.out if args.out is not None else default_out(args.runs)
        drawn = plot(groups, out, args.tag, window, args.band, args.points)
    except PgtrainError as ex:
        print(f"pgtrain-plot: error: {ex}", file=sys.stderr)
        raise SystemExit(ex.exit_status) from None
    if args.tag == RETURN_TAG:
        print(f"final return = {FINAL_RETURN_WORDS}, mean over a config's runs")
    for label, b in drawn:
        last = f"{args.tag} at {b.steps[-1]:,.0f} env steps: {b.mean[-1]:.2f} [{b.low[-1]:.2f}, {b.high[-1]:.2f}]"
        final = f"final return {b.final:.2f}; " if b.final is not None else ""
        print(f"{label}: {b.runs} run(s), {final}{last}")
    print(f"wrote {out}")


def default_out(paths: Sequence[Path]) -> Path:
    """``returns.png`` beside the runs: in the one folder given, else in the deepest folder holding every path."""
    folders = [p if p.is_dir() else p.parent for p in map(Path, paths)]
    return Path(os.path.commonpath([f.absolute() for f in folders])) / "returns.png" if len(folders) > 1 else folders[0] / "returns.png"


if __name__ == "__main__":
    main()
