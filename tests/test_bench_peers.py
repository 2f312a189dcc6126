"""scripts/bench_peers.py: the side-by-side benchmark runs both sides in --quick mode and writes its table, PNG and JSON.

The end-to-end tests need the peers (stable-baselines3, tianshou, OpenCV; Box2D and MuJoCo for their envs), which
scripts/install.sh installs from requirements.lock: without them they fail, naming what is missing.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "bench_peers.py"


def _load_script():
    spec = importlib.util.spec_from_file_location("bench_peers", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_peers"] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def _need(*modules: str) -> None:
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        pytest.fail(f"{', '.join(missing)} missing: scripts/install.sh installs them (requirements.lock; pip install -e '.[bench]')")


def test_tracker_solves_on_the_episode_that_lifts_the_window_mean():
    bench = _load_script()
    tracker = bench.Tracker(window=3, threshold=10.0, max_wall_s=1e9)
    for i, ret in enumerate([0.0, 10.0, 10.0, 10.0, 20.0]):
        tracker.episode(ret, env_step=100 * (i + 1))
        if i < 3:
            assert tracker.solved is None  # windows [0], [0,10], [0,10,10]: too few episodes or mean 6.7
    # the 4th episode makes the last three 10, 10, 10
    assert tracker.solved["env_steps"] == 400 and tracker.solved["episodes"] == 4
    assert tracker.should_stop()
    result = tracker.result(env_steps=500)
    assert result["final_return"] == pytest.approx(40 / 3) and len(result["curve"]) == 5


def test_median_range_and_ratio_formatting():
    bench = _load_script()
    assert bench._median_range([3.0, 1.0, 2.0], ".1f") == "2.0 (1.0–3.0)"
    assert bench._median_range([5.0], ".1f") == "5.0"
    assert bench._median_range([5.0, 5.0], ".1f") == "5.0"  # e.g. the env steps of a fixed budget
    assert bench._median_range([], ".1f") == "—"
    assert bench._ratio([30.0, 10.0, 20.0], [10.0]) == "2.00×"
    assert bench._ratio([], [10.0]) == "—"
    assert bench._ratio([-5.0], [-10.0]) == "—"  # a ratio of negative returns says nothing
    assert bench._ratio([-5.0], [10.0]) == "-0.50×"


def test_fixed_budget_tracker_never_solves():
    bench = _load_script()
    tracker = bench.Tracker(window=2, threshold=None, max_wall_s=1e9)
    for i, ret in enumerate([1e6, 1e6, 1e6]):
        tracker.episode(ret, env_step=i + 1)
    assert tracker.solved is None and not tracker.should_stop()
    assert tracker.result(env_steps=3)["final_return"] == 1e6  # over the last 2


def test_budget_table_gives_times_peer_over_pgtrain_and_return_pgtrain_over_peer():
    bench = _load_script()
    task = bench.TASKS["halfcheetah-td3"]
    assert task.fixed_budget and task.window == 10 and not task.default

    def row(seed, wall, ret):
        return {"seed": seed, "env_steps": 50_000, "wall_time_s": wall, "steps_per_second": 50_000 / wall, "solved": None,
                "final_return": ret}  # fmt: skip

    results = {
        task.name: {
            "pgtrain": [row(0, 100.0, 3000.0), row(1, 300.0, 1000.0), row(2, 200.0, 2000.0)],
            "peer": [row(0, 800.0, 2500.0), {"seed": 1, "failed": "boom"}],
        }
    }
    table = bench.budget_table(results, {task.name: task}).splitlines()
    assert table[0] == "| task | side | settings | env steps | wall s | env steps/s | return at the end |"
    assert table[2] == (
        "| HalfCheetah-v5, TD3 | pgtrain | its defaults | 50,000 | 200.0 (100.0–300.0) | 250 (167–500) | 2,000.0 (1,000.0–3,000.0) |"
    )
    assert table[3] == "|  | SB3 TD3 | RL Zoo (HalfCheetah-v3) | 50,000 | 800.0 | 62 | 2,500.0 |"  # the failed seed left out
    assert table[4] == "| | **ratio peer/pgtrain** | | | 4.00× | 0.25× | |"
    assert table[5] == "| | **ratio pgtrain/peer** | | | | | 0.80× |"
    assert bench.threshold_table(results, {task.name: task}).count("\n") == 1  # the header only


def test_lean_halfcheetah_task_names_its_overrides_and_they_compose():
    """halfcheetah-td3-lean: the same task and peer as halfcheetah-td3, pgtrain with its overrides, which the report's
    settings column names and which compose into the config pgtrain runs."""
    from hydra import compose, initialize_config_dir

    from pgtrain.cli import CONFIG_DIR
    from pgtrain.config import to_object

    bench = _load_script()
    lean, full = bench.TASKS["halfcheetah-td3-lean"], bench.TASKS["halfcheetah-td3"]
    assert (lean.algo, lean.env, lean.max_steps, lean.window, lean.peer) == (full.algo, full.env, full.max_steps, full.window, full.peer)
    assert bench.PEERS[lean.name] is bench.PEERS[full.name] and not lean.default
    assert bench._side_label(lean, "pgtrain")[2] == "its defaults + `algo.hidden_sizes=[128,128]` + `algo.batch_size=64`"
    assert bench._side_label(full, "pgtrain")[2] == "its defaults"
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = to_object(compose("config", overrides=["algo=td3", "env=halfcheetah", *lean.overrides]))
    assert (list(cfg.algo.hidden_sizes), cfg.algo.batch_size, cfg.algo.learning_starts) == ([128, 128], 64, 10_000)


def _quick(tmp_path: Path, *tasks: str, extra: tuple[str, ...] = ()) -> tuple[str, dict]:
    out = tmp_path / "bench"
    res = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--tasks", *tasks, "--out", str(out), *extra],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    md = (out.with_suffix(".md")).read_text()
    png = (out.with_suffix(".png")).read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    data = json.loads(out.with_suffix(".json").read_text())
    assert "--quick" in data["command"] and "cpu" in data["machine"]
    assert "![return against wall-clock time](bench.png)" in md and "Quick mode" in md
    return md, data


def test_quick_cartpole_against_sb3_and_tianshou(tmp_path):
    _need("stable_baselines3", "tianshou")
    md, data = _quick(tmp_path, "cartpole-a2c", "cartpole-reinforce")
    assert list(data["results"]) == ["cartpole-a2c", "cartpole-reinforce"]
    for name, peer in (("cartpole-a2c", "SB3 A2C"), ("cartpole-reinforce", "Tianshou Reinforce")):
        for side in ("pgtrain", "peer"):
            (row,) = data["results"][name][side]
            assert row["seed"] == 0 and row["env_steps"] >= 3_000 and row["steps_per_second"] > 0
            assert row["final_return"] > 0  # CartPole pays 1 a step: finished episodes were seen
        assert f"| {peer} |" in md
    assert md.count("**ratio peer/pgtrain**") == 2
    assert "| CartPole-v1, A2C | pgtrain | its defaults | 0/1 |" in md


def test_quick_and_steps_resolve_each_tasks_budget():
    bench = _load_script()

    def args(**given) -> argparse.Namespace:
        return argparse.Namespace(**({"quick": False, "steps": None, "max_wall_s": None} | given))

    pong = bench.TASKS["pong-a2c"]
    assert bench.resolve("pong-a2c", args()) == pong and pong.max_steps == 20_000
    quick = bench.resolve("pong-a2c", args(quick=True))
    assert quick.max_steps == pong.quick_steps == 800 and quick.max_wall_s == pong.max_wall_s
    steps = bench.resolve("pong-a2c", args(quick=True, steps=160, max_wall_s=9.0))  # --steps over the quick budget
    assert (steps.max_steps, steps.max_wall_s) == (160, 9.0)


def test_quick_pong_throughput_under_a_steps_budget(tmp_path):
    """Pong through both sides with --steps 160 (two A2C rollouts of 16 x 5 on each side) instead of the quick budget's
    800: the CNN's forward passes make Pong the slowest task per env step; the test above checks the quick budget."""
    _need("stable_baselines3", "cv2")
    md, data = _quick(tmp_path, "pong-a2c", extra=("--steps", "160"))
    assert data["command"].endswith("--tasks pong-a2c --steps 160")
    assert data["caps"]["pong-a2c"] == {"env_steps": 160, "wall_s": 300.0, "fixed_budget": True}
    for side in ("pgtrain", "peer"):
        (pong,) = data["results"]["pong-a2c"][side]
        assert pong["env_steps"] >= 160 and pong["steps_per_second"] > 0
    # the fixed-budget table: env steps run; the settings name the overrides (the peer's network and game)
    assert "| Pong, A2C (throughput) | pgtrain | its defaults + `env.preprocess=stack` + `env.repeat_action_probability=0` | 160 |" in md
    assert "| SB3 A2C (CNN) |" in md


def test_quick_ppo_ddpg_sac_td3(tmp_path):
    _need("stable_baselines3")
    md, data = _quick(tmp_path, "cartpole-ppo", "pendulum-ddpg", "pendulum-sac", "pendulum-td3")
    for side in ("pgtrain", "peer"):
        (ppo,) = data["results"]["cartpole-ppo"][side]
        assert ppo["env_steps"] >= 3_000 and ppo["final_return"] > 0
        for name in ("pendulum-ddpg", "pendulum-sac", "pendulum-td3"):
            (row,) = data["results"][name][side]
            # three 200-step episodes of negative reward
            assert row["env_steps"] == 600 and row["final_return"] < 0, (name, side, row)
    for peer in ("SB3 PPO", "SB3 DDPG", "SB3 SAC", "SB3 TD3"):
        assert f"| {peer} |" in md


def test_quick_lunarlander_ppo_and_halfcheetah_td3_sac_ppo(tmp_path):
    _need("stable_baselines3", "Box2D", "mujoco")
    md, data = _quick(tmp_path, "lunarlander-ppo", "halfcheetah-td3", "halfcheetah-sac", "halfcheetah-ppo")
    assert data["caps"]["halfcheetah-ppo"] == {"env_steps": 1_024, "wall_s": 3600.0, "fixed_budget": True}
    for cheetah_task in ("halfcheetah-td3", "halfcheetah-sac"):
        assert data["caps"][cheetah_task] == {"env_steps": 1_000, "wall_s": 3600.0, "fixed_budget": True}
    for side in ("pgtrain", "peer"):
        (lunar,) = data["results"]["lunarlander-ppo"][side]
        # one rollout of 16 x 1,024 env steps (pgtrain does not count the reset steps of NEXT_STEP autoreset, so its
        # budget runs into the next vector step of 16): LunarLander's first episodes have ended
        assert 16_384 <= lunar["env_steps"] < 16_384 + 16 and lunar["final_return"] is not None and lunar["solved"] is None
        for cheetah_task in ("halfcheetah-td3", "halfcheetah-sac"):
            (cheetah,) = data["results"][cheetah_task][side]
            assert cheetah["env_steps"] == 1_000 and cheetah["solved"] is None
            assert cheetah["final_return"] < 0  # one 1,000-step episode of random warm-up actions: control costs, no run
        (ppo,) = data["results"]["halfcheetah-ppo"][side]  # two 512-step rollouts, SB3's through VecNormalize
        assert ppo["env_steps"] == 1_024 and ppo["final_return"] is not None
    assert "| LunarLander-v3, PPO | pgtrain | its defaults | 0/1 |" in md
    assert "| HalfCheetah-v5, TD3 | pgtrain | its defaults + `algo.learning_starts=750` | 1,000 |" in md and "**ratio pgtrain/peer**" in md
    assert (
        "| HalfCheetah-v5, SAC | pgtrain | its defaults + `algo.learning_starts=750` | 1,000 |" in md
        and "| SB3 SAC | RL Zoo (HalfCheetah-v3) |" in md
    )
    assert "| HalfCheetah-v5, PPO | pgtrain | its defaults | 1,024 |" in md and "| SB3 PPO | RL Zoo (HalfCheetah-v3) |" in md
    assert "HalfCheetah-v5, TD3: 1,000 env steps, return at the end = the mean return of the last 10" in md


def test_missing_peer_library_is_one_line_error(tmp_path):
    # a sitecustomize that hides stable_baselines3 from importlib, as in an install without the bench group
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text(
        "import importlib.util\n_find = importlib.util.find_spec\n"
        "importlib.util.find_spec = lambda name, *a: None if name == 'stable_baselines3' else _find(name, *a)\n"
    )
    res = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--tasks", "cartpole-a2c", "--out", str(tmp_path / "x")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(shim), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    assert res.returncode != 0
    assert res.stderr.strip().splitlines() == [
        "bench_peers: error: stable_baselines3 not installed; install the group: pip install -e '.[bench]'"
    ]
    assert not (tmp_path / "x.md").exists()
