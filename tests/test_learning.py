"""Learning tests: each algorithm really learns on a small budget (real envs, real CLI)."""

from __future__ import annotations

import pytest

from tests.conftest import read_summary

pytestmark = pytest.mark.slow


def test_reinforce_solves_cartpole_195(cli, tmp_path):
    """REINFORCE with its defaults reaches a last-100 mean return >= 195 on CartPole-v1 within 150k env steps."""
    run = tmp_path / "run"
    res = cli("seed=0", "total_steps=150000", "env.solve_threshold=195", "stop_on_solve=true", f"hydra.run.dir={run}")
    assert res.returncode == 0, res.stderr
    summary = read_summary(run)
    assert summary["solved"] is not None, summary
    assert summary["final_return"] >= 195
    assert summary["solved"]["env_steps"] < 150000
