"""tests/forked.py: a command forked from the warm interpreter ends as the same command in a fresh one does."""

from __future__ import annotations

import subprocess

import pytest

from pgtrain import spawn
from tests import forked


@pytest.mark.parametrize(
    "args",
    [
        ("algo.lr=-1",),  # refused before torch: one line, status 2
        ("env=pendulum", "total_steps=1"),  # refused after torch has loaded (the budget is below one vector step)
        ("--help",),
    ],
)
def test_a_forked_command_prints_and_exits_as_a_fresh_one(tmp_path, args):
    fresh = spawn.run(*args, cwd=tmp_path, timeout=120)
    fork = forked.run("pgtrain.cli", args, cwd=tmp_path, env=spawn.child_env(None), timeout=120)
    assert (fork.returncode, fork.stdout, fork.stderr) == (fresh.returncode, fresh.stdout, fresh.stderr)
    assert list(tmp_path.iterdir()) == []  # neither wrote anything


def test_a_forked_run_writes_its_run_directory_in_its_own_working_directory(tmp_path):
    res = forked.run("pgtrain.cli", ("total_steps=600", "hydra.run.dir=r"), cwd=tmp_path, env=spawn.child_env({"X": "1"}), timeout=120)
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "r" / "summary.json").exists() and (tmp_path / "r" / "checkpoints" / "last.pt").exists()


def test_an_uncaught_exception_prints_its_traceback_and_exits_1(tmp_path):
    (tmp_path / "boom.py").write_text("raise RuntimeError('boom')\n")  # found through the working directory, as -m finds it
    fork = forked.run("boom", (), cwd=tmp_path, env=spawn.child_env(None), timeout=60)
    fresh = spawn.run(cwd=tmp_path, module="boom", timeout=60)
    assert fork.returncode == fresh.returncode == 1 and fork.stdout == fresh.stdout == ""
    for res in (fork, fresh):
        assert res.stderr.startswith("Traceback") and res.stderr.endswith("RuntimeError: boom\n"), res.stderr


def test_a_command_past_its_timeout_is_killed(tmp_path):
    with pytest.raises(subprocess.TimeoutExpired):
        forked.run("pgtrain.cli", ("total_steps=100000000", "hydra.run.dir=r"), cwd=tmp_path, env=spawn.child_env(None), timeout=3)
