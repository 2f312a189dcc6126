"""Schedules of hyperparameters over a run's env steps (pure functions; the workspace applies them)."""

from __future__ import annotations


def linear_lr_scale(env_steps: int, decay_steps: int, final_fraction: float) -> float:
    """The learning rates' factor after ``env_steps``: 1 at the start, falling linearly to ``final_fraction`` at
    ``decay_steps`` and staying there; always 1 when ``decay_steps`` is 0 (``algo.lr_decay_steps``)."""
    if decay_steps <= 0:
        return 1.0
    return 1.0 - (1.0 - final_fraction) * min(env_steps / decay_steps, 1.0)
