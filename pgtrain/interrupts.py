"""SIGINT and SIGTERM as an exception that never lands in the middle of bookkeeping.

The training loop turns both signals into :class:`Interrupted` (save, then exit 128 + signal). Python runs a signal
handler between any two bytecodes, so an exception raised there could fall between a collector taking a vector step's
result and recording it, or inside an optimiser step, and the checkpoint written next would hold a torn state. Code that
must run whole runs inside :func:`atomic`; a signal that arrives there is held and raised as soon as the block ends.
Waiting (for the emulators, for evaluation episodes) stays outside such blocks, so Ctrl-C is still answered at once.
"""

from __future__ import annotations

import signal
from types import FrameType

_depth = 0  # nesting of atomic() blocks; touched by the main thread only (signal handlers run there too)
_held: int | None = None


class Interrupted(Exception):
    """SIGINT or SIGTERM arrived: save, then exit with the conventional status 128 + signal."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def handler(signum: int, frame: FrameType | None) -> None:
    """The signal handler: raise :class:`Interrupted` now, or when the running :func:`atomic` block ends."""
    global _held
    if _depth:
        _held = signum
        return
    raise Interrupted(signum)


class _Atomic:
    """The context manager :func:`atomic` returns (a class: a generator-based one costs several times more per use,
    and the env-step loop enters one at every vector step)."""

    def __enter__(self) -> None:
        global _depth
        _depth += 1

    def __exit__(self, *exc: object) -> None:
        global _depth, _held
        _depth -= 1
        if not _depth and _held is not None:
            signum, _held = _held, None
            raise Interrupted(signum)


_ATOMIC = _Atomic()


def atomic() -> _Atomic:
    """Run the block whole: a signal that arrives inside it is raised when it ends."""
    return _ATOMIC
