"""The tests' ``pgtrain`` child processes, started from a warm interpreter instead of a fresh one.

Most end-to-end tests run a ``pgtrain`` command as a child process (``tests/conftest.py``'s ``run_cli``). A fresh
interpreter spends most of a short run importing torch: 2.2-3.3 s on the 2-core machine, against well under a second
for the run itself, and the suite starts a few hundred of them. Here each command runs in a process forked from
:mod:`multiprocessing`'s fork server, which has imported torch, gymnasium, Hydra and pgtrain's command modules once
(``PRELOAD``) and never runs a torch operation itself, so every child starts with clean thread pools. The child is a
real process with its own pid, working directory, environment, stdout and stderr (files, not a terminal) and exit
status; it runs the command's module as ``__main__`` with ``sys.argv`` set, as ``python -m MODULE ARGS`` does, and
ends as the interpreter would (threads joined, ``atexit`` handlers, streams flushed; uncaught exceptions print their
traceback and give status 1).

What it cannot show is the interpreter's start: imports (a lazy import that fails, start-up time) and environment
variables read while Python starts (``PYTHONPATH``, ``sitecustomize``). The tests of those start real interpreters
(``pgtrain.spawn``: tests/test_startup.py, tests/test_exits.py, the signal tests, and every ``run_cli`` call that
passes ``env``), and ``PGTRAIN_TEST_FRESH=1`` makes every ``run_cli`` start one, to check the two ways agree.
"""

from __future__ import annotations

import atexit
import io
import multiprocessing
import os
import runpy
import subprocess
import sys
import tempfile
import threading
import traceback
from pathlib import Path

from pgtrain.workarounds.exits import exit_status

PRELOAD = ["torch", "gymnasium", "hydra", "pgtrain.cli", "pgtrain.workspace", "pgtrain.evaluation"]

_context: multiprocessing.context.ForkServerContext | None = None


def _fork_server() -> multiprocessing.context.ForkServerContext:
    global _context
    if _context is None:
        _context = multiprocessing.get_context("forkserver")
        _context.set_forkserver_preload(PRELOAD)
    return _context


def run(module: str, args: tuple[str, ...], cwd: Path | str, env: dict[str, str], timeout: float | None) -> subprocess.CompletedProcess:
    """``python -m MODULE ARGS`` in ``cwd`` with exactly ``env``, forked from the warm interpreter; like
    :func:`subprocess.run` with ``capture_output=True, text=True`` (and its ``TimeoutExpired``)."""
    with tempfile.TemporaryDirectory(prefix="pgtrain-child-") as tmp:
        out, err = Path(tmp) / "stdout", Path(tmp) / "stderr"
        child = _fork_server().Process(target=_main, args=(module, list(args), str(cwd), env, str(out), str(err)))
        child.start()
        child.join(timeout)
        if child.exitcode is None:
            child.kill()
            child.join()
            raise subprocess.TimeoutExpired([module, *args], timeout, out.read_text(), err.read_text())
        argv = [sys.executable, "-m", module, *args]
        return subprocess.CompletedProcess(argv, child.exitcode, out.read_text(), err.read_text())


def _main(module: str, args: list[str], cwd: str, env: dict[str, str], out: str, err: str) -> None:
    """In the child: the process state ``python -m`` would start with, the module as ``__main__``, the exit."""
    os.chdir(cwd)
    sys.path.insert(0, os.getcwd())  # as ``python -m`` does
    os.environ.clear()
    os.environ.update(env)
    for fd, path in ((1, out), (2, err)):
        file = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(file, fd)
        os.close(file)
    sys.stdout = io.TextIOWrapper(open(1, "wb", buffering=0, closefd=False), write_through=True)  # PYTHONUNBUFFERED
    sys.stderr = io.TextIOWrapper(open(2, "wb", buffering=0, closefd=False), write_through=True, errors="backslashreplace")
    sys.argv = [module, *args]
    sys.modules.pop(module, None)  # as in a fresh interpreter: __main__ is its own copy, ``import MODULE`` another
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
        status = 0
    except SystemExit as ex:
        if ex.code is not None and not isinstance(ex.code, int):
            print(ex.code, file=sys.stderr)
        status = exit_status(ex.code)
    except BaseException:  # what the interpreter prints for an uncaught exception
        traceback.print_exc()
        status = 1
    threading._shutdown()  # the interpreter's exit joins non-daemon threads, then runs atexit
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(status)
