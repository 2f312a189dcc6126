"""Schedules over a run's env steps: when periodic work is due (:class:`Every`), and every hyperparameter schedule.

This module is the one place that reads the schedule options and turns the run's progress (its env steps against
``total_steps``) into factors. The workspace asks :class:`Schedules` for the :class:`Factors` at the env step of each
update, hands them to the algorithm (:meth:`pgtrain.algos.base.Algorithm.set_schedule`) and logs each scheduled value
as ``schedule/<option>``; no algorithm computes progress itself. Every schedule is linear in env steps:

    factor(step) = 1 - (1 - final) * min(step / span, 1)          (1 at step 0, ``final`` from ``span`` on; 1 if span = 0)

- ``lr`` (every algorithm; every learning rate of every optimiser): span ``algo.lr_decay_steps``, final
  ``algo.lr_final_fraction``. PPO's ``algo.anneal_lr=true`` is the same schedule with span ``total_steps`` and final 0;
  a command that sets both is refused (:func:`check`).
- ``clip_range`` (PPO): span ``total_steps``, final 0 with ``algo.anneal_clip_range=true``, else constant.
- ``entropy_coef`` (PPO): span ``total_steps``, final 0 with ``algo.anneal_entropy=true``, else constant.
- ``noise_std`` (DDPG, TD3: the exploration noise's scale): span ``algo.noise_decay_steps``, final
  ``algo.noise_final_fraction``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, NamedTuple

from pgtrain.errors import PgtrainError

SCHEDULE_TAG = "schedule/{}"  # the TensorBoard tag of a scheduled option's current value, by its option name


def linear(step: int, span: int, final: float) -> float:
    """1 at env step 0, falling linearly to ``final`` at ``span`` env steps and staying there; always 1 when ``span`` is 0."""
    if span <= 0:
        return 1.0
    return 1.0 - (1.0 - final) * min(step / span, 1.0)


@dataclass(frozen=True)
class Linear:
    """One schedule: :func:`linear` with its ``span`` (env steps) and ``final`` factor; the default is constant 1."""

    span: int = 0
    final: float = 1.0

    def __call__(self, step: int) -> float:
        return linear(step, self.span, self.final)


class Factors(NamedTuple):
    """The scheduled options' multipliers at one env step (1 = the configured value), as an algorithm applies them (a
    tuple: cheap to build at every env step of an off-policy run)."""

    lr: float = 1.0  # every learning rate of every optimiser (algo.lr, value_lr, critic_lr, alpha_lr)
    clip_range: float = 1.0  # PPO's algo.clip_range
    entropy_coef: float = 1.0  # PPO's algo.entropy_coef
    noise_std: float = 1.0  # DDPG's and TD3's exploration noise, algo.noise_std


def check(algo: Any) -> None:
    """Refuse options that would set one schedule twice (run before anything is written; imports nothing heavy)."""
    if getattr(algo, "anneal_lr", False) and algo.lr_decay_steps:
        raise PgtrainError(
            f"algo.anneal_lr=true and algo.lr_decay_steps={algo.lr_decay_steps} both decay the learning rate; "
            "keep one: algo.anneal_lr=false to use lr_decay_steps, or algo.lr_decay_steps=0 to decay to 0 over total_steps"
        )


def resolve(algo: Any, total_steps: int) -> dict[str, Linear]:
    """Each option that ``algo`` (an algorithm's config) can schedule, by its name in :class:`Factors`, and its schedule."""
    check(algo)
    to_zero = Linear(total_steps, 0.0)  # PPO's annealing: linearly to 0 over the run's budget
    lines = {"lr": to_zero if getattr(algo, "anneal_lr", False) else Linear(algo.lr_decay_steps, algo.lr_final_fraction)}
    if hasattr(algo, "anneal_clip_range"):
        lines["clip_range"] = to_zero if algo.anneal_clip_range else Linear()
    if hasattr(algo, "anneal_entropy"):
        lines["entropy_coef"] = to_zero if algo.anneal_entropy else Linear()
    if hasattr(algo, "noise_decay_steps"):
        lines["noise_std"] = Linear(algo.noise_decay_steps, algo.noise_final_fraction)
    return lines


class Schedules:
    """Every schedule of one run, from its algorithm's options and ``total_steps``."""

    def __init__(self, algo: Any, total_steps: int) -> None:
        self.lines = resolve(algo, total_steps)
        self.configured = {name: float(getattr(algo, name)) for name in self.lines}  # the options' configured values
        # from this env step on every factor is final (0: all constant); off-policy runs ask at every env step
        self.settled_from = max(line.span for line in self.lines.values())
        self.settled = Factors(**{name: line(self.settled_from) for name, line in self.lines.items()})
        self.last: tuple[Factors, dict[str, float]] | None = None

    def factors(self, step: int) -> Factors:
        """The factors at env step ``step``; an option without a schedule keeps factor 1."""
        if step >= self.settled_from:
            return self.settled
        return Factors(**{name: line(step) for name, line in self.lines.items()})

    def values(self, factors: Factors) -> dict[str, float]:
        """The scheduled options' current values by tag: ``schedule/lr`` is algo.lr times the lr factor, and so on."""
        if self.last is None or self.last[0] is not factors:
            values = {SCHEDULE_TAG.format(name): self.configured[name] * getattr(factors, name) for name in self.lines}
            self.last = (factors, values)
        return self.last[1]


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
