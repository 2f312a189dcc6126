"""Which setting won? ``pgtrain-report SWEEP_DIR [--out DIR]`` summarises a sweep in Markdown and a PNG.

Every run under SWEEP_DIR (a directory with TensorBoard event files; ``pgtrain -m`` makes one per job) is read back:
its ``summary.json`` for the final return and the steps to the env's solve threshold, its event files for the curve.
Runs whose configs differ only in the seed (and settings that do not change learning) form one config, as in
``pgtrain-plot`` (:func:`pgtrain.plotting.group_runs`). One table row per config, best first:

- mean of the seeds' final returns (:func:`pgtrain.curves.run_final_return`: mean return of the last 100 training
  episodes, as in ``summary.json`` and ``pgtrain-plot``'s legend) with a 95 % percentile-bootstrap
  confidence interval (10,000 resamples of the seeds, fixed RNG seed, so the report is reproducible);
- IQM, the interquartile mean over seeds (the mean of the middle 50 %, as rliable computes it: ``trim_mean(x, 0.25)``);
- how many seeds reached the solve threshold, and the median env steps they took to get there.

``report.md`` and ``report.png`` (curves of every config: mean over seeds, min-max band) go to SWEEP_DIR unless ``--out``.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pgtrain import files
from pgtrain.curves import FINAL_RETURN_WORDS, FINAL_WINDOW, run_final_return
from pgtrain.errors import DiskFull, PgtrainError
from pgtrain.plotting import Group, find_runs, group_runs, plot

BOOTSTRAP_RESAMPLES = 10_000
BOOTSTRAP_SEED = 0
MAX_CURVES = 10  # configs drawn per PNG, best first: more lines than this cannot be told apart


@dataclass
class Run:
    """One job: its directory and ``summary.json`` (None when the job did not finish)."""

    path: Path
    summary: dict[str, Any] | None


@dataclass
class Row:
    """One config of the sweep, its seeds aggregated."""

    label: str
    env: str
    runs: list[Run]
    finals: np.ndarray  # the finite final returns of the finished runs, (S,)
    solved_steps: list[int] = field(default_factory=list)
    threshold: float | None = None

    @property
    def finished(self) -> list[Run]:
        return [r for r in self.runs if r.summary is not None]

    @property
    def mean(self) -> float:
        return float(self.finals.mean()) if len(self.finals) else math.nan

    @property
    def ci(self) -> tuple[float, float]:
        return bootstrap_ci(self.finals)

    @property
    def iqm(self) -> float:
        return iqm(self.finals)

    @property
    def median_solve_steps(self) -> float:
        return float(np.median(self.solved_steps)) if self.solved_steps else math.nan


# ----------------------------------------------------------------------------------------------------------------------
# Statistics


def bootstrap_ci(
    x: np.ndarray, level: float = 0.95, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED
) -> tuple[float, float]:
    """Percentile-bootstrap confidence interval of the mean of ``x`` (S,); (nan, nan) for fewer than 2 values."""
    x = np.asarray(x, dtype=np.float64)
    if len(x) < 2:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, len(x), size=(resamples, len(x)))].mean(axis=1)
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return float(low), float(high)


def iqm(x: np.ndarray) -> float:
    """Interquartile mean: the mean after cutting ``floor(n / 4)`` values off each end (``scipy.stats.trim_mean(x, 0.25)``)."""
    x = np.sort(np.asarray(x, dtype=np.float64))
    if len(x) == 0:
        return math.nan
    cut = int(0.25 * len(x))
    return float(x[cut : len(x) - cut].mean())


# ----------------------------------------------------------------------------------------------------------------------
# Reading a sweep


def _read_summary(run: Path) -> dict[str, Any] | None:
    path = run / "summary.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as ex:
        raise PgtrainError(f"{path}: unreadable summary ({ex})") from None


def _row(group: Group) -> Row:
    runs = [Run(path, _read_summary(path)) for path in group.runs]
    done = [r.summary for r in runs if r.summary is not None]
    finals = [v for r in runs if r.summary is not None and (v := run_final_return(r.path)) is not None]
    env = str(done[0].get("env", "?")) if done else "?"
    thresholds = {s.get("solve_threshold") for s in done}
    return Row(
        label=_short_floats(group.label),
        env=env,
        runs=runs,
        finals=np.array(finals, dtype=np.float64),
        solved_steps=[int(s["solved"]["env_steps"]) for s in done if s.get("solved")],
        threshold=thresholds.pop() if len(thresholds) == 1 else None,
    )


def _short_floats(label: str) -> str:
    """``algo.lr=0.0022881136684755237`` (as Optuna draws it) -> ``algo.lr=0.002288``: a readable row label."""
    return re.sub(r"(?<==)-?\d+\.\d{5,}(?:e-?\d+)?\b", lambda m: f"{float(m.group()):.4g}", label)


def collect(sweep_dir: Path) -> tuple[list[Row], list[str]]:
    """The sweep's configs as rows, grouped by env and sorted best first (by mean final return) within each env, and the
    overrides every config shares (left out of the row labels)."""
    if not sweep_dir.is_dir():
        raise PgtrainError(f"{sweep_dir}: no such directory")
    rows = [_row(g) for g in group_runs(find_runs([sweep_dir]))]
    if not any(r.finished for r in rows):
        raise PgtrainError(f"{sweep_dir}: no run under it has a summary.json yet (have its jobs finished?)")
    common = _common_overrides(rows)
    for row in rows:
        head, *rest = row.label.split(" ")
        row.label = " ".join([head, *(o for o in rest if o not in common)])
    return sorted(rows, key=lambda r: (r.env, -r.mean if len(r.finals) else math.inf, r.label)), common


def _common_overrides(rows: Sequence[Row]) -> list[str]:
    """Overrides that every config of the sweep shares (``total_steps=...``): said once, left out of the row labels."""
    if len(rows) < 2:
        return []
    sets = [row.label.split(" ")[1:] for row in rows]
    return [o for o in sets[0] if all(o in s for s in sets[1:])]


# ----------------------------------------------------------------------------------------------------------------------
# Writing it


def _num(x: float, digits: int = 1) -> str:
    return "–" if x is None or not math.isfinite(x) else f"{x:,.{digits}f}"


def _steps(x: float) -> str:
    return "–" if not math.isfinite(x) else f"{x:,.0f}"


def _by_env(rows: Sequence[Row]) -> dict[str, list[Row]]:
    out: dict[str, list[Row]] = {}
    for row in rows:
        out.setdefault(row.env, []).append(row)
    return out


def _verdict(env_rows: list[Row]) -> str:
    ranked = [r for r in env_rows if len(r.finals)]
    if not ranked:
        return "No config finished an episode: no winner."
    best = ranked[0]
    low, high = best.ci
    ci = f", 95% CI [{_num(low)}, {_num(high)}]" if math.isfinite(low) else ""
    text = f"**Best: `{best.label}`**, mean final return {_num(best.mean)}{ci} over {len(best.finals)} seed(s)"
    if best.threshold is not None:
        text += f"; {len(best.solved_steps)}/{len(best.finished)} seeds reached {_num(best.threshold, 0)}"
        if best.solved_steps:
            text += f" (median {_steps(best.median_solve_steps)} env steps)"
    text += "."
    if len(ranked) > 1:
        second = ranked[1]
        s_low, s_high = second.ci
        if not math.isfinite(low) or not math.isfinite(s_high):
            text += f" Runner-up: `{second.label}` ({_num(second.mean)}); one seed gives no interval: run more seeds before calling it."
        elif s_high >= low:
            text += (
                f" Its lead over `{second.label}` ({_num(second.mean)}) is within the bootstrap intervals: "
                "run more seeds before calling it."
            )
        else:
            text += f" It beats `{second.label}` ({_num(second.mean)}) outside the bootstrap intervals."
    return text


def markdown(sweep_dir: Path, rows: Sequence[Row], common: Sequence[str], pngs: dict[str, str]) -> str:
    """The report: per env, the verdict, the table of configs (best first), the curves and the runs behind each row."""
    n_runs = sum(len(r.runs) for r in rows)
    shared = f" (all with {' '.join(f'`{o}`' for o in common)})" if common else ""
    lines = [
        f"# Sweep report: {sweep_dir}",
        "",
        f"{n_runs} runs in {len(rows)} configs{shared}. Final return = {FINAL_RETURN_WORDS} of a run "
        "(the figure in its summary.json and in pgtrain-plot's legend); "
        f"per config: mean over seeds, 95% percentile-bootstrap CI of that mean ({BOOTSTRAP_RESAMPLES:,} resamples, "
        f"RNG seed {BOOTSTRAP_SEED}), IQM = interquartile mean over seeds; steps to solve = median env steps until the "
        "running mean over the env's solve window first reached its threshold, over the seeds that reached it.",
    ]
    for env, env_rows in _by_env(rows).items():
        thresholds = {r.threshold for r in env_rows if r.threshold is not None}
        target = f" (solved: mean return ≥ {_num(thresholds.pop(), 0)})" if len(thresholds) == 1 else ""
        lines += ["", f"## {env}{target}", "", _verdict(env_rows), ""]
        lines += [
            f"| rank | config | seeds | final return (last {FINAL_WINDOW} episodes, mean over seeds) | 95% CI | IQM | solved "
            "| steps to solve |",
            "|---:|---|---:|---:|---|---:|---:|---:|",
        ]
        for i, r in enumerate(env_rows, 1):
            low, high = r.ci
            ci = f"[{_num(low)}, {_num(high)}]" if math.isfinite(low) else "–"
            seeds = f"{len(r.finals)}" if len(r.finals) == len(r.runs) else f"{len(r.finals)} of {len(r.runs)}"
            solved = f"{len(r.solved_steps)}/{len(r.finished)}" if r.threshold is not None else "–"
            lines.append(
                f"| {i} | `{r.label}` | {seeds} | {_num(r.mean)} | {ci} | {_num(r.iqm)} | {solved} | {_steps(r.median_solve_steps)} |"
            )
        if env in pngs:
            lines += ["", f"![{env} curves]({pngs[env]})"]
            if len(env_rows) > MAX_CURVES:
                lines.append(f"(the {MAX_CURVES} best configs are drawn)")
        lines += ["", "<details><summary>Runs</summary>", ""]
        lines += ["| config | seed | final return | solved at (env steps) | run |", "|---|---:|---:|---:|---|"]
        for r in env_rows:
            for run in r.runs:
                s = run.summary
                if s is None:
                    lines.append(f"| `{r.label}` | ? | not finished | – | {_rel(run.path, sweep_dir)} |")
                    continue
                solved = _steps(s["solved"]["env_steps"]) if s.get("solved") else "–"
                final = s.get("final_return")
                final_text = _num(final if final is not None else math.nan, 2)
                lines.append(f"| `{r.label}` | {s.get('seed')} | {final_text} | {solved} | {_rel(run.path, sweep_dir)} |")
        lines += ["", "</details>"]
    return "\n".join(lines) + "\n"


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def write_report(sweep_dir: Path, out_dir: Path | None = None) -> tuple[Path, list[Path], list[Row]]:
    """Write ``report.md`` and the curve PNG(s) (``report.png``; ``report-<env>.png`` when the sweep spans envs)."""
    sweep_dir = Path(sweep_dir)
    out_dir = Path(out_dir) if out_dir is not None else sweep_dir
    rows, common = collect(sweep_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    envs = _by_env(rows)
    pngs: dict[str, str] = {}
    for env, env_rows in envs.items():
        name = "report.png" if len(envs) == 1 else f"report-{env}.png"
        ranked = [r for r in env_rows if r.finished][:MAX_CURVES]
        try:
            plot([Group(r.label, [run.path for run in r.runs]) for r in ranked], out_dir / name, window=FINAL_WINDOW)
        except DiskFull:
            raise
        except PgtrainError as ex:  # too few episodes for a curve: the table still answers
            print(f"pgtrain-report: no curves for {env}: {ex}", file=sys.stderr)
            continue
        pngs[env] = name
    md = out_dir / "report.md"
    files.write_text(md, markdown(sweep_dir, rows, common, pngs))
    return md, [out_dir / p for p in pngs.values()], rows


# ----------------------------------------------------------------------------------------------------------------------
# The command


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="pgtrain-report",
        description="Summarise a sweep (pgtrain -m): a Markdown table of configs, seeds aggregated, best first, and a PNG of their curves.",
    )
    p.add_argument("sweep_dir", metavar="SWEEP_DIR", type=Path, help="the sweep's directory, e.g. runs/multirun/<date>")
    p.add_argument("--out", type=Path, default=None, help="directory for report.md and report.png (default: SWEEP_DIR)")
    return p


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    try:
        md, pngs, rows = write_report(args.sweep_dir, args.out)
    except PgtrainError as ex:
        print(f"pgtrain-report: error: {ex}", file=sys.stderr)
        raise SystemExit(ex.exit_status) from None
    print(f"final return = {FINAL_RETURN_WORDS}, mean over a config's seeds")
    for env, env_rows in _by_env(rows).items():
        print(f"{env}: {_verdict(env_rows)}".replace("**", "").replace("`", ""))
    print(f"wrote {md}" + "".join(f", {p}" for p in pngs))


if __name__ == "__main__":
    main()
