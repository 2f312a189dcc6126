"""Learning-rate schedules: the linear decay's maths, and a real run whose optimisers end at the decayed rate."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from pgtrain.schedules import linear_lr_scale
from tests.conftest import read_summary


def test_linear_decay_falls_to_the_final_fraction_and_stays() -> None:
    assert linear_lr_scale(0, 1000, 0.1) == 1.0
    assert linear_lr_scale(500, 1000, 0.1) == pytest.approx(0.55)
    assert linear_lr_scale(1000, 1000, 0.1) == pytest.approx(0.1)
    assert linear_lr_scale(5000, 1000, 0.1) == pytest.approx(0.1)
    assert linear_lr_scale(5000, 0, 0.1) == 1.0  # lr_decay_steps=0: constant


@pytest.mark.parametrize("algo", ["reinforce", "a2c"])
def test_a_run_with_lr_decay_ends_at_the_decayed_rates(cli, tmp_path: Path, algo: str) -> None:
    """algo.lr_decay_steps=1000 algo.lr_final_fraction=0.1 over a 3,000-step CartPole run: every optimiser's rate in
    the final checkpoint is a tenth of its configured value, which the group keeps as initial_lr."""
    run = tmp_path / "run"
    res = cli(
        f"algo={algo}", "total_steps=3000", "algo.lr=0.002", "algo.lr_decay_steps=1000", "algo.lr_final_fraction=0.1",
        f"hydra.run.dir={run}", "progress=false",
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert read_summary(run)["env_steps"] >= 3000
    state = torch.load(run / "checkpoints" / "last.pt", weights_only=True)["algo_state"]
    opt = state["policy_opt"] if algo == "reinforce" else state["opt"]
    groups = opt["param_groups"]
    assert groups and all(g["lr"] == pytest.approx(0.1 * g["initial_lr"]) for g in groups)
    assert any(g["initial_lr"] == pytest.approx(0.002) for g in groups)


def test_lr_final_fraction_out_of_range_is_refused(cli, tmp_path: Path) -> None:
    res = cli("algo.lr_final_fraction=1.5", f"hydra.run.dir={tmp_path / 'r'}")
    assert res.returncode == 2 and "algo.lr_final_fraction=1.5 is out of range" in res.stderr
    assert not (tmp_path / "r").exists()
