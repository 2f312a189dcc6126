"""Read scalar curves back from a run's TensorBoard event files (for plots, reports and benchmarks)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from pgtrain.tags import RETURN_TAG


@dataclass
class Curve:
    """One scalar tag of one run: ``steps``, ``values`` and ``wall`` (seconds since the first event) as ``(K,)`` arrays."""

    steps: np.ndarray
    values: np.ndarray
    wall: np.ndarray


def load_curve(run_dir: Path | str, tag: str = RETURN_TAG) -> Curve:
    """All points of ``tag`` in ``run_dir``'s event files, sorted by step (empty arrays when the tag is absent)."""
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
