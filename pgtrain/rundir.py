"""One writer per run directory: a training process holds an exclusive lock on ``RUN_DIR/pgtrain.lock`` for its life.

The lock is :func:`fcntl.flock` on the open file, so the operating system releases it when the process ends, however
it ends (a SIGKILL or a crash leaves no stale lock; the file stays, unlocked). The holder writes its pid, host and
command into the file; a second writer reads them to say who holds the run, and is refused before it writes anything.
Readers (``pgtrain-eval``, ``pgtrain-plot``, ``pgtrain-report``, TensorBoard) never take the lock.
"""

from __future__ import annotations

import fcntl
import os
import shlex
import socket
import sys
from pathlib import Path

from pgtrain.errors import RunBusy
from pgtrain.files import Writing

LOCK_NAME = "pgtrain.lock"
_held: dict[Path, int] = {}  # run directory (resolved) -> the open lock file this process holds
current = "the run directory"  # the run or sweep directory pgtrain.cli let Hydra create: named if Hydra's writes fail


def holder(run_dir: Path) -> str | None:
    """Who holds ``run_dir`` (``pid 123 on host h: pgtrain ...``), or None when no live process does (or the file
    system cannot lock). Reads only."""
    path = Path(run_dir) / LOCK_NAME
    key = Path(run_dir).resolve()
    if key in _held or not path.is_file():
        return None
    fd = os.open(path, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)  # a shared lock is refused while a writer holds it
        except BlockingIOError:
            return _describe(os.pread(fd, 4096, 0).decode(errors="replace"))
        except OSError:
            return None
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def refuse_if_held(run_dir: Path, then: str) -> None:
    """:class:`RunBusy` naming the holder when a live process holds ``run_dir``; ``then`` says what to do. Reads only:
    a command refused later for another reason leaves no lock file behind."""
    who = holder(run_dir)
    if who is not None:
        raise _busy(run_dir, who, then)


def hold(run_dir: Path) -> None:
    """Take ``run_dir`` for this process until it ends (or :func:`release`); :class:`RunBusy` when another holds it.

    Refused, nothing in the directory changes: the lock file is opened without truncating it and only read."""
    run_dir = Path(run_dir)
    key = run_dir.resolve()
    if key in _held:
        return
    path = run_dir / LOCK_NAME
    with Writing(path):
        run_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        who = _describe(os.pread(fd, 4096, 0).decode(errors="replace"))
        os.close(fd)
        raise _busy(run_dir, who, f"wait for it to end or stop it, then pgtrain resume={run_dir}") from None
    except OSError as ex:  # a file system without flock (Lustre mounted without -o flock): train, and say so
        print(
            f"pgtrain: warning: {path} cannot be locked ({ex.strerror}); nothing stops a second process from writing {run_dir}",
            file=sys.stderr,
        )
    try:
        with Writing(path):
            os.ftruncate(fd, 0)
            os.pwrite(fd, _identity().encode(), 0)
    except BaseException:
        os.close(fd)
        raise
    _held[key] = fd


def release(run_dir: Path) -> None:
    """Let ``run_dir`` go (the end of a process does the same); the lock file stays, its last holder named in it."""
    fd = _held.pop(Path(run_dir).resolve(), None)
    if fd is not None:
        os.close(fd)


def _busy(run_dir: Path, who: str, then: str) -> RunBusy:
    return RunBusy(f"{run_dir} is being written by another process ({who}); one writer per run directory: {then}")


def _identity() -> str:
    command = shlex.join(sys.argv)
    return f"pid={os.getpid()}\nhost={socket.gethostname()}\ncommand={command}\n"


def _describe(text: str) -> str:
    fields = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    if "pid" not in fields:
        return "its pid not yet written"
    command = fields.get("command", "")
    command = command if len(command) <= 200 else command[:197] + "..."
    return f"pid {fields['pid']} on host {fields.get('host', '?')}: {command}"
