"""Shared test helpers: run the real ``pgtrain`` command as a subprocess into a temporary directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run_cli(
    *args: str, cwd: Path, timeout: float = 300, env: dict[str, str] | None = None, module: str = "pgtrain.cli"
) -> subprocess.CompletedProcess:
    """``python -m <module> ARGS`` (the ``pgtrain`` console script's code) in ``cwd``; stdout is not a terminal."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=full_env)


def read_summary(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text())


@pytest.fixture
def cli(tmp_path: Path):
    """``cli(*args)`` runs pgtrain in ``tmp_path``; returns the CompletedProcess."""

    def _run(*args: str, **kwargs) -> subprocess.CompletedProcess:
        return run_cli(*args, cwd=tmp_path, **kwargs)

    return _run
