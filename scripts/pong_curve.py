"""Pong learning evidence: the running score (mean of the last 100 games) against wall time and against env steps.

Reads ``train/episodic_return`` from each run directory's TensorBoard events and writes one PNG with two panels (left:
minutes since the run's first finished game, right: env steps); dashed lines mark the built-in AI (0) and, with
``--target``, a score to reach. Prints, per run, when the running score first reached each line and where it ended.

    python scripts/pong_curve.py runs/reinforce-ALE_Pong-v5-seed0-* --out curve.png
    python scripts/pong_curve.py RUN_A RUN_B --target 18 --out curves.png

A run stopped and resumed later shows its training time: pauses longer than ``--pause-s`` (120 s) between two
finished games are cut from the wall-time axis.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np

from pgtrain.curves import load_curve, running_mean
from pgtrain.tags import RETURN_TAG


def first_reach(values: np.ndarray, level: float) -> int | None:
    """Index of the first running-mean point >= ``level`` (None if never)."""
    hits = np.flatnonzero(values >= level)
    return int(hits[0]) if len(hits) else None


def without_pauses(wall: np.ndarray, pause_s: float) -> np.ndarray:
    """Wall seconds with every gap longer than ``pause_s`` between consecutive games cut out (a run stopped and later
    resumed): training time, not calendar time. Games end every second or two while a Pong run trains."""
    gaps = np.diff(wall, prepend=wall[:1])
    return np.cumsum(np.where(gaps > pause_s, 0.0, gaps))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path, help="run directories")
    parser.add_argument("--out", type=Path, default=Path("pong_curve.png"))
    parser.add_argument("--window", type=int, default=100, help="games in the running mean (default 100)")
    parser.add_argument("--target", type=float, action="append", default=[], help="extra score lines (repeatable)")
    parser.add_argument(
        "--pause-s",
        type=float,
        default=120.0,
        help="gaps longer than this between games (a stop and a resume) are cut from the wall-time axis",
    )
    parser.add_argument("--title", default="Pong: running score (mean of the last 100 games)")
    args = parser.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    logging.getLogger("tensorboard").setLevel(logging.ERROR)
    levels = [0.0, *args.target]
    fig, (ax_t, ax_s) = plt.subplots(1, 2, figsize=(12, 4.5), dpi=120, sharey=True)
    for run in args.runs:
        curve = load_curve(run, RETURN_TAG)
        if len(curve.values) == 0:
            print(f"{run}: no finished games yet")
            continue
        score = running_mean(curve.values, args.window)
        curve.wall = without_pauses(curve.wall, args.pause_s)
        label = run.name
        ax_t.plot(curve.wall / 60.0, score, label=label, linewidth=1.2)
        ax_s.plot(curve.steps, score, label=label, linewidth=1.2)
        minutes = curve.wall[-1] / 60
        print(f"{run}: {len(score)} games, {curve.steps[-1]:,} env steps, {minutes:.1f} min, final running score {score[-1]:.2f}")
        for level in levels:
            i = first_reach(score, level)
            when = "never" if i is None else f"after {curve.wall[i] / 60:.1f} min, {curve.steps[i]:,} env steps, game {i + 1}"
            print(f"  running score >= {level:g}: {when}")
    for ax in (ax_t, ax_s):
        for level in levels:
            ax.axhline(level, color="grey", linestyle="--", linewidth=0.8)
        ax.grid(alpha=0.3)
    ax_t.set_xlabel("wall time (minutes since the first finished game)")
    ax_s.set_xlabel("env steps (agent decisions, frame skip included)")
    ax_t.set_ylabel(f"running score, last {args.window} games")
    ax_s.legend(fontsize=8, loc="lower right")
    fig.suptitle(args.title, fontsize=11)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
