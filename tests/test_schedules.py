"""Schedules and logged metrics on real short runs of every algorithm.

Each run sets every schedule option its algorithm has to a non-default value; the values logged as ``schedule/<option>``
(read back from the TensorBoard event files) must equal the documented linear formula, written out by hand here:
value(t) = configured * (1 - (1 - final) * min(t / span, 1)) at env step t. The same runs log every tag pgtrain writes,
each of which docs/operations.md's "Logged metrics" must list, and every tag listed there must be logged by one of them.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from pgtrain.algos.ddpg import DDPG, DDPGConfig
from pgtrain.curves import load_curve
from pgtrain.schedules import Factors
from tests.conftest import ROOT, read_summary, run_cli, tensors_equal
from tests.test_ddpg import PENDULUM_ACT, PENDULUM_OBS

SMALL = "algo.hidden_sizes=[32,32]"
# off-policy runs: learning starts early and lasts a few seconds, so that several flushes (at most one a second) log
OFF = (
    "env=pendulum",
    SMALL,
    "algo.learning_starts=200",
    "algo.batch_size=32",
    "total_steps=2200",
    "env.solve_threshold=-1e5",
    "env.solve_window=1",
)
ON = ("env=cartpole", "env.solve_threshold=0", "env.solve_window=1")


def decayed(configured: float, span: int, final: float):
    """The documented schedule, by hand: configured * (1 - (1 - final) * min(t / span, 1))."""
    return lambda t: configured * (1.0 - (1.0 - final) * min(t / span, 1.0))


def constant(configured: float):
    return lambda t: configured


# name -> (overrides, {tag: expected value as a function of the env step})
RUNS = {
    "reinforce": (
        ("algo=reinforce", *ON, "total_steps=3000", "algo.lr=0.002", "algo.lr_decay_steps=4000", "algo.lr_final_fraction=0.1",
         "video_interval=2000"),
        {"schedule/lr": decayed(0.002, 4000, 0.1)},
    ),
    "a2c": (
        ("algo=a2c", *ON, "total_steps=3000", "algo.lr=0.003", "algo.lr_decay_steps=2000", "algo.lr_final_fraction=0.25"),
        {"schedule/lr": decayed(0.003, 2000, 0.25)},
    ),
    "ac_online": (
        ("algo=ac_online", *ON, "total_steps=1500", "algo.lr=0.001", "algo.lr_decay_steps=3000", "algo.lr_final_fraction=0.5"),
        {"schedule/lr": decayed(0.001, 3000, 0.5)},
    ),
    "ppo": (  # anneal_*: linearly to 0 over total_steps
        ("algo=ppo", *ON, "total_steps=4096", "algo.lr=0.0004", "algo.clip_range=0.25", "algo.entropy_coef=0.02",
         "algo.anneal_lr=true", "algo.anneal_clip_range=true", "algo.anneal_entropy=true"),
        {"schedule/lr": decayed(0.0004, 4096, 0.0), "schedule/clip_range": decayed(0.25, 4096, 0.0),
         "schedule/entropy_coef": decayed(0.02, 4096, 0.0)},
    ),
    "ppo_lr_decay": (  # the generic decay in PPO once anneal_lr is off; clip range and entropy weight stay
        ("algo=ppo", *ON, "total_steps=4096", "algo.lr=0.0004", "algo.anneal_lr=false", "algo.lr_decay_steps=3000",
         "algo.lr_final_fraction=0.2", "algo.anneal_clip_range=false", "algo.clip_range=0.25", "algo.entropy_coef=0.02"),
        {"schedule/lr": decayed(0.0004, 3000, 0.2), "schedule/clip_range": constant(0.25),
         "schedule/entropy_coef": constant(0.02)},
    ),
    "ddpg": (
        ("algo=ddpg", *OFF, "algo.lr=0.001", "algo.lr_decay_steps=1000", "algo.lr_final_fraction=0.3",
         "algo.noise_std=0.2", "algo.noise_decay_steps=2000", "algo.noise_final_fraction=0.1", "eval_interval=1000",
         "eval_episodes=1"),
        {"schedule/lr": decayed(0.001, 1000, 0.3), "schedule/noise_std": decayed(0.2, 2000, 0.1)},
    ),
    "td3": (
        ("algo=td3", *OFF, "algo.lr=0.0005", "algo.lr_decay_steps=4000", "algo.lr_final_fraction=0.05",
         "algo.noise_std=0.3", "algo.noise_decay_steps=1000", "algo.noise_final_fraction=0.5"),
        {"schedule/lr": decayed(0.0005, 4000, 0.05), "schedule/noise_std": decayed(0.3, 1000, 0.5)},
    ),
    "sac": (
        ("algo=sac", *OFF, "algo.lr=0.0006", "algo.lr_decay_steps=3000", "algo.lr_final_fraction=0.4"),
        {"schedule/lr": decayed(0.0006, 3000, 0.4)},
    ),
}  # fmt: skip


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """Every run of RUNS, once for the module (seed 0, progress off)."""
    base = tmp_path_factory.mktemp("schedules")
    out = {}
    for name, (overrides, _) in RUNS.items():
        run = base / name
        res = run_cli(*overrides, f"hydra.run.dir={run}", "progress=false", "seed=0", cwd=base)
        assert res.returncode == 0, (name, res.stderr)
        out[name] = run
    return out


@pytest.mark.parametrize("name", list(RUNS))
def test_logged_schedules_follow_the_documented_formula(runs: dict[str, Path], name: str) -> None:
    """Each schedule/<option> point equals the formula at its env step, at two steps or more (one write a second at
    most, and one at the end: the last update's)."""
    run, expected = runs[name], RUNS[name][1]
    logged = {tag for tag in _tags(run) if tag.startswith("schedule/")}
    assert logged == set(expected), logged
    last_step = read_summary(run)["env_steps"]
    for tag, value_at in expected.items():
        curve = load_curve(run, tag)
        assert len(curve.steps) >= 2, (tag, curve.steps)
        assert 0 < curve.steps[0] < curve.steps[-1] <= last_step
        for step, value in zip(curve.steps.tolist(), curve.values.tolist(), strict=True):
            assert value == pytest.approx(value_at(step), rel=1e-6, abs=1e-12), (tag, step)


@pytest.mark.parametrize("name", ["reinforce", "a2c", "ppo_lr_decay", "sac"])
def test_the_optimisers_end_at_the_last_logged_learning_rate(runs: dict[str, Path], name: str) -> None:
    """What the log says is what the optimisers used: every group of every optimiser in the final checkpoint holds its
    configured rate (initial_lr) times the factor of the last logged schedule/lr."""
    run = runs[name]
    curve = load_curve(run, "schedule/lr")
    factor = RUNS[name][1]["schedule/lr"](int(curve.steps[-1])) / RUNS[name][1]["schedule/lr"](0)
    state = torch.load(run / "checkpoints" / "last.pt", weights_only=True)["algo_state"]
    groups = [g for value in state.values() if isinstance(value, dict) and "param_groups" in value for g in value["param_groups"]]
    assert groups and all(g["lr"] == pytest.approx(factor * g["initial_lr"]) for g in groups)


def test_decayed_exploration_noise_is_the_factor_times_the_noise() -> None:
    """DDPG's noise with noise_std's factor f is f times the noise drawn with factor 1 from the same RNG state; 0 acts as
    mu(s) itself."""
    algo = DDPG(PENDULUM_OBS, PENDULUM_ACT, DDPGConfig(noise_std=0.05), torch.device("cpu"))
    obs = np.zeros((4, 3), dtype=np.float32)
    mu = algo.act(obs, explore=False)
    draws = {}
    for f in (1.0, 0.5, 0.0):
        algo.set_schedule(Factors(noise_std=f))
        np.random.seed(7)
        draws[f] = algo.act(obs) - mu
    np.testing.assert_allclose(draws[0.5], 0.5 * draws[1.0], rtol=1e-5, atol=1e-7)
    assert np.all(draws[0.0] == 0) and np.any(draws[1.0] != 0)


def test_anneal_lr_beside_lr_decay_steps_is_refused(tmp_path: Path) -> None:
    res = run_cli("algo=ppo", "algo.lr_decay_steps=1000", f"hydra.run.dir={tmp_path / 'r'}", cwd=tmp_path)
    assert res.returncode == 2 and res.stderr.count("\n") == 1, res.stderr
    assert "algo.anneal_lr=true and algo.lr_decay_steps=1000 both decay the learning rate" in res.stderr
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("option", ["algo.lr_final_fraction=1.5", "algo=ddpg env=pendulum algo.noise_final_fraction=-0.1"])
def test_a_final_fraction_out_of_range_is_refused(tmp_path: Path, option: str) -> None:
    res = run_cli(*option.split(), f"hydra.run.dir={tmp_path / 'r'}", cwd=tmp_path)
    key = option.split()[-1].split("=")[0]
    assert res.returncode == 2 and f"{key}=" in res.stderr and "is out of range" in res.stderr, res.stderr
    assert not (tmp_path / "r").exists()


# ----------------------------------------------------------------------------------------------------------------------
# One namespace of tags, listed in docs/operations.md


def _tags(run: Path) -> set[str]:
    acc = EventAccumulator(str(run), size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    acc.Reload()
    kinds = acc.Tags()
    return {tag for kind in ("scalars", "images", "tensors") for tag in kinds.get(kind, [])}


def documented_tags() -> set[str]:
    """The tags in the first column of the table under docs/operations.md's "## Logged metrics"."""
    text = (ROOT / "docs" / "operations.md").read_text()
    section = text.split("\n## Logged metrics\n", 1)[1].split("\n#", 1)[0]  # up to the next heading
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return {tag for row in rows for tag in re.findall(r"`([^`]+)`", row.split("|")[1])}


def test_every_logged_tag_is_documented_and_every_documented_tag_is_logged(runs: dict[str, Path]) -> None:
    documented = documented_tags()
    logged = {name: _tags(run) for name, run in runs.items()}
    for name, tags in logged.items():
        assert tags <= documented, (name, sorted(tags - documented))
    assert documented == set().union(*logged.values()), sorted(documented - set().union(*logged.values()))


def test_a_resumed_run_continues_its_schedules_exactly(tmp_path: Path) -> None:
    """DDPG with decaying rates and noise: 600 env steps in one go == 300, then resumed to 600 (the resumed process
    acts with the decayed noise from its first step): identical weights, optimiser states and replay buffer."""
    args = (
        "algo=ddpg", "env=pendulum", "algo.save_buffer=true", "algo.learning_starts=200", "algo.batch_size=32", SMALL,
        "algo.lr_decay_steps=500", "algo.lr_final_fraction=0.2", "algo.noise_decay_steps=400", "algo.noise_final_fraction=0.1",
    )  # fmt: skip
    a, b = tmp_path / "a", tmp_path / "b"
    assert run_cli(*args, "total_steps=600", f"hydra.run.dir={a}", cwd=tmp_path).returncode == 0
    assert run_cli(*args, "total_steps=300", f"hydra.run.dir={b}", cwd=tmp_path).returncode == 0
    res = run_cli(f"resume={b}", "total_steps=600", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    sa, sb = (torch.load(r / "checkpoints" / "last.pt", weights_only=True) for r in (a, b))
    assert sa["counters"]["env_steps"] == sb["counters"]["env_steps"] == 600
    assert tensors_equal(sa["algo_state"], sb["algo_state"]) and tensors_equal(sa["collector_state"], sb["collector_state"])
    np.testing.assert_array_equal(load_curve(a, "schedule/noise_std").values[-1:], load_curve(b, "schedule/noise_std").values[-1:])
