"""Read scalar curves back from a run's TensorBoard event files (for plots, reports and benchmarks), and the one
definition of a run's final return that the run's summary, ``pgtrain-plot`` and ``pgtrain-report`` all state."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pgtrain.tags import RETURN_TAG

FINAL_WINDOW = 100  # a run's final return: the mean of its last 100 training episodes (RL Zoo's and the lecture's last-100 mean)
FINAL_RETURN_WORDS = f"mean return of the last {FINAL_WINDOW} training episodes"


def final_return(returns: Sequence[float], window: int = FINAL_WINDOW) -> float | None:
    """Mean of the last ``min(window, n)`` of ``returns`` (episode returns in the order they finished); None for none."""
    recent = list(returns)[-window:]
    return float(sum(recent) / len(recent)) if recent else None


def run_final_return(run_dir: Path | str) -> float | None:
    """A run's final return: ``summary.json``'s ``final_return`` (:func:`final_return` over the episodes it trained on:
    an off-policy run's warm-up episodes left out), else :func:`final_return` of its logged episode returns (a run
    still going, or stopped before it wrote a summary). None when it has no finite one."""
    path = Path(run_dir) / "summary.json"
    value: float | None
    try:
        value = json.loads(path.read_text()).get("final_return") if path.is_file() else final_return(load_curve(run_dir).values)
    except (OSError, ValueError):
        value = final_return(load_curve(run_dir).values)
    return value if value is not None and math.isfinite(value) else None


@dataclass
class Curve:
    """One scalar tag of one run: ``steps``, ``values`` and ``wall`` (seconds since the first event) as ``(K,)`` arrays."""

    steps: np.ndarray
    values: np.ndarray
    wall: np.ndarray


def mean_final_return(runs: Sequence[Path | str]) -> tuple[float | None, int]:
    """The mean over ``runs`` of each one's :func:`run_final_return`, and how many runs had one."""
    values = [v for v in map(run_final_return, runs) if v is not None]
    return (float(np.mean(values)) if values else None), len(values)


def load_curve(run_dir: Path | str, tag: str = RETURN_TAG) -> Curve:
    """All points of ``tag`` in ``run_dir``'s event files, sorted by step (empty arrays when the tag is absent)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # a run's summary never needs it

    acc = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
    acc.Reload()
    if tag not in acc.Tags().get("scalars", []):
        return Curve(np.zeros(0), np.zeros(0), np.zeros(0))
    events = sorted(acc.Scalars(tag), key=lambda e: (e.step, e.wall_time))
    wall = np.array([e.wall_time for e in events])
    return Curve(
        steps=np.array([e.step for e in events], dtype=np.int64),
        values=np.array([e.value for e in events], dtype=np.float64),
        wall=wall - wall.min() if len(wall) else wall,
    )


def running_mean(values: np.ndarray, window: int) -> np.ndarray:
    """Mean of the last min(window, i + 1) values at each index i (the 'last-100 mean' of RL Zoo and the lecture)."""
    csum = np.cumsum(np.insert(values.astype(np.float64), 0, 0.0))
    idx = np.arange(1, len(values) + 1)
    lo = np.maximum(0, idx - window)
    return (csum[idx] - csum[lo]) / (idx - lo)
