"""Shared test helpers: run the real ``pgtrain`` command as a subprocess into a temporary directory."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import torch

from pgtrain import spawn
from tests import forked

ROOT = Path(__file__).resolve().parent.parent


def run_cli(
    *args: str, cwd: Path, timeout: float = 300, env: dict[str, str] | None = None, module: str = "pgtrain.cli"
) -> subprocess.CompletedProcess:
    """``python -m <module> ARGS`` (the ``pgtrain`` console script's code) in ``cwd``; stdout is not a terminal.

    Forked from a warm interpreter (tests/forked.py) unless ``env`` adds variables, which may be read while Python
    starts, or ``PGTRAIN_TEST_FRESH=1`` asks for a fresh interpreter every time."""
    if env is None and os.environ.get("PGTRAIN_TEST_FRESH") != "1":
        return forked.run(module, args, cwd=cwd, env=spawn.child_env(None), timeout=timeout)
    return spawn.run(*args, module=module, cwd=cwd, timeout=timeout, env=env)


def read_summary(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text())


def tensors_equal(a, b) -> bool:
    """Whether two checkpoint states (nested dicts and lists of tensors, numbers and strings) are identical."""
    if isinstance(a, torch.Tensor):
        return torch.equal(a, b)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(tensors_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(tensors_equal(x, y) for x, y in zip(a, b, strict=True))
    return a == b


@pytest.fixture
def cli(tmp_path: Path):
    """``cli(*args)`` runs pgtrain in ``tmp_path``; returns the CompletedProcess."""

    def _run(*args: str, **kwargs) -> subprocess.CompletedProcess:
        return run_cli(*args, cwd=tmp_path, **kwargs)

    return _run
