"""How the console scripts end: the command's own exit status, without the interpreter's teardown.

When a command has finished, Python's finalisation still frees every object one by one before the process ends: the
config trees of Hydra and OmegaConf (cyclic: each node links to its parent, so the garbage collector has to find them)
and torch's modules and tensors, memory the operating system takes back at once anyway (the time it takes:
benchmarks/results/fast-paths_2026-12-07.json).

:func:`run_and_exit` runs a command, then does what an orderly exit does that matters: the ``atexit`` handlers run
(``logging`` flushes its files, ``multiprocessing`` and ``loky`` stop their workers), the standard streams are
flushed, and only then :func:`os._exit` ends the process with the command's status. Where another thread or child
process is still alive, it leaves the ordinary way, which joins them first; so it does under a profiler or tracer
(``python -m cProfile -m pgtrain.cli ...`` writes its statistics after the command returns). Anything a run writes is closed by then:
files go through :mod:`pgtrain.files` (atomic renames) and the TensorBoard writer is closed by the workspace.
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import sys
import threading
from collections.abc import Callable
from typing import NoReturn


def exit_status(code: object) -> int:
    """The process exit status of ``SystemExit(code)``, as the interpreter computes it: None is 0, an int is itself,
    anything else is printed to stderr (by the caller) and is 1."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    return 1


def run_and_exit(command: Callable[[], object]) -> NoReturn:
    """Run ``command`` (a console script's ``main``), then exit with its status, skipping finalisation (see above).

    An exception other than SystemExit leaves as usual, with its traceback and the ordinary teardown."""
    try:
        command()
        status = 0
    except SystemExit as ex:
        if ex.code is not None and not isinstance(ex.code, int):
            print(ex.code, file=sys.stderr)
        status = exit_status(ex.code)
    if threading.active_count() > 1 or multiprocessing.active_children() or sys.getprofile() or sys.gettrace():
        raise SystemExit(status)  # the ordinary exit joins them, and lets a profiler write its statistics
    atexit._run_exitfuncs()  # what an ordinary exit runs (a private name, unchanged since Python 3.0)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: the ordinary exit would not report it either
            pass
    os._exit(status)
