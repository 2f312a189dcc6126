"""``pgtrain`` as a child process, for the tests and the benchmark scripts: ``python -m pgtrain.cli ARGS`` (the console
script's code; ``module`` names another command's, e.g. ``pgtrain.evaluation``) with this interpreter, text streams and
unbuffered output, ``env`` added to this process's environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

CLI = "pgtrain.cli"


def start(*args: str, module: str = CLI, env: dict[str, str] | None = None, **popen: Any) -> subprocess.Popen:
    """Start it; ``popen`` goes to :class:`subprocess.Popen` (``cwd``, ``stdout``, ``stderr``)."""
    return subprocess.Popen(_argv(module, args), env=child_env(env), text=True, **popen)


def run(
    *args: str, module: str = CLI, cwd: Path | str | None = None, timeout: float | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Run it to its end and capture its output; stdout is not a terminal."""
    return subprocess.run(_argv(module, args), cwd=cwd, capture_output=True, text=True, timeout=timeout, env=child_env(env))


def _argv(module: str, args: tuple[str, ...]) -> list[str]:
    return [sys.executable, "-m", module, *args]


def child_env(extra: dict[str, str] | None) -> dict[str, str]:
    """The environment of a child: this process's, unbuffered output, ``extra`` added."""
    return {**os.environ, "PYTHONUNBUFFERED": "1", **(extra or {})}
