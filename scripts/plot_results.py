"""Plots made from the result files: one PNG per file of benchmarks/results/ into benchmarks/plots/ (not committed).

    python scripts/plot_results.py                               # every result file
    python scripts/plot_results.py cartpole-ppo_2026-12-02 --out /tmp/plots

Solve and budget tasks: each seed's running mean of training returns against wall seconds when the file holds curves
(both sides), else each seed's figure as a dot beside the other side's; Pong learning: the running score at each
5-minute mark; throughput: training and raw emulator env steps/s.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import results  # noqa: E402


def _running_mean(x: np.ndarray, window: int) -> np.ndarray:
    """Mean of the last ``window`` values at each point (fewer at the start)."""
    c = np.cumsum(np.insert(x, 0, 0.0))
    i = np.arange(1, len(x) + 1)
    lo = np.maximum(i - window, 0)
    return (c[i] - c[lo]) / (i - lo)


def plot_sides(ax: plt.Axes, rec: dict) -> None:
    window = rec["protocol"].get("solve_window") or 100
    sides = [("pgtrain", rec["seeds"], "tab:blue")]
    if rec.get("peer"):
        sides.append((rec["peer"]["name"], rec["peer"]["seeds"], "tab:orange"))
    if any(s.get("curve") for _, seeds, _ in sides for s in seeds):
        for name, seeds, color in sides:
            for i, s in enumerate(seeds):
                if s.get("curve"):
                    c = np.asarray(s["curve"], dtype=float)
                    ax.plot(c[:, 0], _running_mean(c[:, 2], window), color=color, lw=1, label=name if i == 0 else None)
        ax.set_xlabel("wall-clock seconds of training")
        ax.set_ylabel(f"mean return of the last {window} training episodes")
        if rec["protocol"].get("solve_threshold") is not None:
            ax.axhline(rec["protocol"]["solve_threshold"], color="grey", ls="--", lw=0.8)
        ax.legend(fontsize=8)
        return
    key = "solved" if rec["kind"] == "solve" else "final_return"
    for x, (name, seeds, color) in enumerate(sides):
        ys = [(s["solved"] or {}).get("wall_time_s") if key == "solved" else s.get("final_return") for s in seeds if not s.get("failed")]
        ys = [y for y in ys if y is not None]
        ax.plot([x] * len(ys), ys, "o", color=color)
        ax.text(x, max(ys, default=0), f" {name}", fontsize=8)
    ax.set_xticks(range(len(sides)), [n for n, _, _ in sides])
    ax.set_ylabel("wall s to the threshold" if key == "solved" else "return at the end of the budget")


def plot_pong(ax: plt.Axes, rec: dict) -> None:
    for s in rec["seeds"]:
        at = sorted((float(m), v) for m, v in (s.get("at_minutes") or {}).items())
        xs = [m for m, _ in at] + ([s["final"]["minutes"]] if s.get("final") else [])
        ys = [v["running_score"] for _, v in at] + ([s["final"]["running_score"]] if s.get("final") else [])
        ax.plot(xs, ys, "o-", label=f"seed {s['seed']}")
    ax.axhline(0, color="grey", ls="--", lw=0.8)
    ax.set_xlabel("minutes of training")
    ax.set_ylabel("mean of the last 100 training games")
    ax.legend(fontsize=8)


def plot_throughput(ax: plt.Axes, rec: dict) -> None:
    runs = rec.get("runs") or [rec]
    labels = ["raw emulators"] + [r.get("variant") or "the preset" for r in runs]
    values = [rec["emulator_sps"]] + [r["train_sps"] for r in runs]
    ax.bar(range(len(values)), values, color=["grey"] + ["tab:blue"] * len(runs))
    ax.set_xticks(range(len(values)), labels, fontsize=7, rotation=15)
    ax.set_ylabel("env steps / s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stems", nargs="*", help="result files by name without .json (default: all)")
    parser.add_argument("--out", type=Path, default=results.ROOT / "benchmarks" / "plots")
    args = parser.parse_args(argv)
    data = results.load_all()
    missing = [s for s in args.stems if s not in data]
    if missing:
        raise SystemExit(f"plot_results: error: no result file {missing[0]}.json in benchmarks/results/")
    args.out.mkdir(parents=True, exist_ok=True)
    for stem in args.stems or list(data):
        rec = data[stem]
        draw = {"solve": plot_sides, "budget": plot_sides, "pong-learning": plot_pong, "throughput": plot_throughput}.get(rec["kind"])
        if draw is None:
            continue
        fig, ax = plt.subplots(figsize=(6, 4))
        draw(ax, rec)
        ax.set_title(f"{rec['title']}\n{rec['date']}, {rec['machine'].get('cpu')}", fontsize=9)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(args.out / f"{stem}.png", dpi=100)
        plt.close(fig)
        print(f"wrote {args.out / stem}.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
