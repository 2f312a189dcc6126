"""Reliability: bad checkpoints and run directories, unsafe pickles, signals, SIGKILL at random moments, exact resume,
divergence. (Parallel sweep jobs never colliding: tests/test_sweeps.py's joblib test.)"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from pgtrain import checkpoint, files, spawn
from pgtrain.curves import load_curve
from tests.conftest import read_summary, run_cli, tensors_equal

PAYLOAD_MARKER = "pgtrain_pickle_payload_ran"


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """Two finished short runs to copy and damage: REINFORCE on CartPole and on Pendulum."""
    base = tmp_path_factory.mktemp("runs")
    out = {}
    for name, algo, env, steps in (
        ("cartpole", "reinforce", "cartpole", 1500),
        ("pendulum", "reinforce", "pendulum", 1600),
        ("a2c", "a2c", "cartpole", 1000),
    ):
        run = base / name
        res = run_cli(f"algo={algo}", f"env={env}", f"total_steps={steps}", f"hydra.run.dir={run}", cwd=base)
        assert res.returncode == 0, res.stderr
        out[name] = run
    return out


def _digest(run: Path) -> dict[str, str]:
    return {str(p.relative_to(run)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(run.rglob("*")) if p.is_file()}


class Payload:
    """Unpickling this runs a shell command: what a malicious checkpoint would carry."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _damage(run: Path, how: str, others: dict[str, Path], tmp: Path) -> None:
    last = run / "checkpoints" / "last.pt"
    if how == "truncated":
        data = last.read_bytes()
        last.write_bytes(data[: len(data) // 2])
    elif how == "corrupt":
        last.write_bytes(np.random.default_rng(0).bytes(4096))
    elif how == "other_env":
        shutil.copy(others["pendulum"] / "checkpoints" / "last.pt", last)
    elif how == "other_algo":
        shutil.copy(others["a2c"] / "checkpoints" / "last.pt", last)
    elif how == "version":
        state = torch.load(last, weights_only=True)
        state["format_version"] = 999
        torch.save(state, last)
    elif how == "pickle_payload":
        torch.save({"format_version": 1, "evil": Payload(tmp / PAYLOAD_MARKER)}, last)
    elif how == "missing_checkpoint":
        last.unlink()


COMMANDS = {
    "resume": lambda run: ("pgtrain.cli", [f"resume={run}", "total_steps=100000"], "pgtrain: error: "),
    "eval": lambda run: ("pgtrain.evaluation", [str(run), "--episodes", "1"], "pgtrain-eval: error: "),
}
DAMAGE = {
    "truncated": "not a readable pgtrain checkpoint",
    "corrupt": "not a readable pgtrain checkpoint",
    "other_env": "written by algo=reinforce env=pendulum",
    "other_algo": "written by algo=a2c env=cartpole",
    "version": "format version 999",
    "pickle_payload": "not a readable pgtrain checkpoint",
    "missing_checkpoint": "does not exist",
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("how", sorted(DAMAGE))
def test_bad_checkpoint_is_one_line_and_changes_nothing(runs, tmp_path, command, how):
    run = tmp_path / "run"
    shutil.copytree(runs["cartpole"], run)
    _damage(run, how, runs, tmp_path)
    before = _digest(run)
    module, args, prefix = COMMANDS[command](run)
    res = run_cli(*args, cwd=tmp_path, module=module)
    assert res.returncode == 2, res.stdout + res.stderr
    assert res.stderr.startswith(prefix) and res.stderr.count("\n") == 1, res.stderr
    assert DAMAGE[how] in res.stderr
    assert "Traceback" not in res.stdout + res.stderr
    assert _digest(run) == before
    assert not (tmp_path / PAYLOAD_MARKER).exists()  # the pickle payload never ran


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("where", ["missing", "not_a_run"])
def test_bad_run_directory_is_one_line(tmp_path, command, where):
    run = tmp_path / "nothing"
    if where == "not_a_run":
        run.mkdir()
        (run / "notes.txt").write_text("not a run")
    module, args, prefix = COMMANDS[command](run)
    res = run_cli(*args, cwd=tmp_path, module=module)
    assert res.returncode == 2 and res.stderr.startswith(prefix) and res.stderr.count("\n") == 1, res.stderr
    assert ("no such directory" if where == "missing" else "not a pgtrain run directory") in res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ([] if where == "missing" else ["nothing"])


def test_checkpoints_are_atomic_and_versioned(tmp_path):
    path = tmp_path / "c" / "last.pt"
    checkpoint.save(path, {"x": torch.ones(3)})
    state = checkpoint.load(path)
    assert state["format_version"] == checkpoint.FORMAT_VERSION and "pgtrain_version" in state
    assert sorted(p.name for p in path.parent.iterdir()) == ["last.pt"]  # no temporary file left behind


def test_atomic_writes_leave_the_whole_file_or_nothing(tmp_path):
    path = tmp_path / "d" / "summary.json"
    with pytest.raises(RuntimeError), files.AtomicPath(path) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash while writing")
    assert list(path.parent.iterdir()) == []  # neither the file nor its temporary twin
    files.write_text(path, "whole")
    assert path.read_text() == "whole" and [p.name for p in path.parent.iterdir()] == ["summary.json"]


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 120) -> None:
    end = time.time() + timeout
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.time() < end, f"{path} never appeared"
        time.sleep(0.1)


def _popen(*args: str, cwd: Path) -> subprocess.Popen:
    return spawn.start(*args, "progress=false", cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.mark.parametrize("signum, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_saves_checkpoint_and_summary_then_resume_continues(tmp_path, signum, status):
    run = tmp_path / "run"
    proc = _popen("total_steps=100000000", "checkpoint_every_s=0.5", f"hydra.run.dir={run}", cwd=tmp_path)
    _wait_for(run / "checkpoints" / "last.pt", proc)
    time.sleep(0.5)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == status, err
    assert "Traceback" not in out + err and f"pgtrain resume={run}" in out
    summary = read_summary(run)
    state = checkpoint.load(run / "checkpoints" / "last.pt")
    assert state["counters"]["env_steps"] == summary["env_steps"] > 0
    target = summary["env_steps"] + 2000
    res = run_cli(f"resume={run}", f"total_steps={target}", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert read_summary(run)["env_steps"] >= target


def test_sigkill_at_random_moments_leaves_a_loadable_checkpoint(tmp_path):
    """Kill -9 the run (and then each resume of it) at random moments; every time, last.pt loads and resume goes on."""
    rng = random.Random(0)
    run = tmp_path / "run"
    last = run / "checkpoints" / "last.pt"
    proc = _popen("total_steps=100000000", "checkpoint_every_s=0.05", "checkpoint_interval=3000", f"hydra.run.dir={run}", cwd=tmp_path)
    _wait_for(last, proc)
    steps = []
    for _ in range(6):
        time.sleep(rng.uniform(0.0, 1.5))  # a random moment of training: saves happen every 0.05 s
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        state = checkpoint.load(last)  # never half-written
        for periodic in last.parent.glob("step_*.pt"):
            checkpoint.load(periodic)
        steps.append(state["counters"]["env_steps"])
        mtime = last.stat().st_mtime_ns
        proc = _popen(f"resume={run}", "checkpoint_every_s=0.05", cwd=tmp_path)
        end = time.time() + 120
        while last.stat().st_mtime_ns == mtime:  # wait until the resumed run trains and saves
            assert proc.poll() is None and time.time() < end, proc.communicate()
            time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert steps == sorted(steps) and steps[-1] > steps[0]
    final = checkpoint.load(last)["counters"]["env_steps"] + 1000
    res = run_cli(f"resume={run}", f"total_steps={final}", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert read_summary(run)["env_steps"] >= final
    curve = load_curve(run)
    assert np.all(np.diff(curve.steps) >= 0)  # the resumed curve has no step going back


_TINY_OFF_POLICY = ["algo.save_buffer=true", "algo.learning_starts=200", "algo.batch_size=32", "algo.hidden_sizes=[32,32]"]


@pytest.mark.parametrize(
    "args, n",
    [
        (["algo=reinforce", "env=cartpole"], 5000),
        (["algo=reinforce", "env=pendulum", "algo.episodes_per_update=2"], 4000),
        (["algo=a2c", "env=cartpole"], 4000),
        (["algo=a2c", "env=pendulum"], 4000),
        # off-policy: tiny networks and minibatches, learning from step 200 (updates on both sides of N), the buffer saved
        (["algo=ddpg", "env=pendulum", *_TINY_OFF_POLICY], 500),
        # annealing follows the budget, which the resume changes; exact at fixed rates
        (["algo=ppo", "env=cartpole", "algo.anneal_lr=false", "algo.anneal_clip_range=false"], 4000),
        (["algo=ppo", "env=pendulum", "algo.anneal_lr=false", "algo.n_steps=256"], 1024),  # one rollout of 4 x 256 fits the first half
        (["algo=sac", "env=pendulum", *_TINY_OFF_POLICY], 500),
        # TD3 on Pendulum's 2 envs, normalised (raw transitions in the buffer, minibatches normalised with the statistics
        # of their update); TD3 without normalisation: on HalfCheetah below
        (["algo=td3", "env=pendulum", "env.normalize_obs=true", "env.normalize_reward=true", *_TINY_OFF_POLICY], 500),
        # MuJoCo (SyncVectorEnv): off-policy and on-policy, resumed mid-episode, tiny networks
        (["algo=td3", "env=halfcheetah", "env.max_episode_steps=150", *_TINY_OFF_POLICY], 250),  # N: mid-episode
        (["algo=sac", "env=hopper", *_TINY_OFF_POLICY], 250),
        (["algo=a2c", "env=hopper", "algo.hidden_sizes=[32,32]"], 500),  # a2c_hopper: 1 env x 5 steps, normalised
        # 2 envs x 64 steps: N is 4 whole rollouts; observations and rewards normalised
        (
            [
                "algo=ppo",
                "env=halfcheetah",
                "env.max_episode_steps=100",
                "env.normalize_obs=true",
                "env.normalize_reward=true",
                "algo.anneal_lr=false",
                "algo.num_envs=2",
                "algo.n_steps=64",
                "algo.batch_size=64",
                "algo.hidden_sizes=[32,32]",
            ],
            512,
        ),
    ],
)
def test_resume_is_exact(tmp_path, args, n):
    """2N steps in one go == N' steps, then resumed to 2N: identical weights, optimiser states, logged
    returns, summary, collector state (the envs' included) and normalisation statistics.

    N' is the end of the first batch at or past N (where run a's periodic checkpoint fell): a run that finishes its
    budget in the middle of a batch learns from that partial batch, which a run given more steps would not have done.
    REINFORCE on Pendulum: the 8 envs end 8 episodes at once, four batches of 2, all learnt from at N' in either run.
    Ctrl-C in the middle of a batch resumes exactly too: tests/test_limits.py."""
    a, b = tmp_path / "a", tmp_path / "b"
    res = run_cli(*args, f"total_steps={2 * n}", f"checkpoint_interval={n}", f"hydra.run.dir={a}", "eval_interval=0", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    first = min((a / "checkpoints").glob("step_*.pt"), key=lambda p: int(p.stem.split("_")[1]))
    whole = int(first.stem.split("_")[1])
    state = checkpoint.load(first)
    ready = len(state["collector_state"].get("episodes", {}).get("ready", []))  # finished episodes: whole batches only
    assert not state["collector_state"].get("rollout") and ready % state["config"]["algo"].get("episodes_per_update", 1) == 0
    res = run_cli(*args, f"total_steps={whole}", f"hydra.run.dir={b}", "eval_interval=0", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    res = run_cli(f"resume={b}", f"total_steps={2 * n}", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    sa, sb = (checkpoint.load(r / "checkpoints" / "last.pt") for r in (a, b))
    assert sa["counters"]["env_steps"] == sb["counters"]["env_steps"]
    assert tensors_equal(sa["algo_state"], sb["algo_state"])
    assert "env" in sa["collector_state"]  # the running episodes were saved, not restarted on resume
    assert tensors_equal(sa["collector_state"], sb["collector_state"])
    # env.normalize_*: the statistics saved for pgtrain-eval too, updated at every env step of training
    assert tensors_equal(sa["normalization"], sb["normalization"])
    if sa["normalization"] is not None and "obs" in sa["normalization"]:
        assert sa["normalization"]["obs"]["count"] > 2 * n
    summaries = [{k: read_summary(r)[k] for k in ("env_steps", "episodes", "updates", "final_return")} for r in (a, b)]
    assert summaries[0] == summaries[1]
    ca, cb = load_curve(a), load_curve(b)
    assert len(ca.values) > 2
    np.testing.assert_array_equal(ca.steps, cb.steps)
    np.testing.assert_array_equal(ca.values, cb.values)


def test_divergence_stops_with_the_step_and_keeps_the_last_good_checkpoint(tmp_path):
    run = tmp_path / "run"
    res = run_cli(
        "env=pendulum",
        "algo.optimizer=sgd",
        "algo.lr=1e8",
        "algo.normalize_advantage=false",
        "total_steps=50000",
        "checkpoint_interval=800",
        f"hydra.run.dir={run}",
        cwd=tmp_path,
    )
    assert res.returncode == 2
    assert res.stderr.startswith("pgtrain: error: training diverged at env step ") and res.stderr.count("\n") == 1, res.stderr
    assert "learning rate" in res.stderr and "last good checkpoint" in res.stderr
    state = checkpoint.load(run / "checkpoints" / "last.pt")
    assert all(torch.isfinite(t).all() for t in state["algo_state"]["policy"].values())
