"""Schedules over a run's env steps: when periodic work is due, and the hyperparameters' factors (the workspace
applies them)."""

from __future__ import annotations

import math


def linear_lr_scale(env_steps: int, decay_steps: int, final_fraction: float) -> float:
    """The learning rates' factor after ``env_steps``: 1 at the start, falling linearly to ``final_fraction`` at
    ``decay_steps`` and staying there; always 1 when ``decay_steps`` is 0 (``algo.lr_decay_steps``)."""
    if decay_steps <= 0:
        return 1.0
    return 1.0 - (1.0 - final_fraction) * min(env_steps / decay_steps, 1.0)


class Every:
    """Due each time the env-step count reaches the next multiple of ``interval``, never when it is 0. The first is
    the multiple after ``step``: a resumed run follows the intervals it is given, whatever the earlier ones were."""

    def __init__(self, interval: int, step: int = 0) -> None:
        self.interval = interval
        self.next = (step // interval + 1) * interval if interval else math.inf

    def __call__(self, step: int) -> bool:
        if step < self.next:
            return False
        self.next += self.interval
        return True
