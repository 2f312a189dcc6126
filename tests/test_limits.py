"""Inputs that would exhaust the machine get one line, not a crash; total_steps is a hard budget.

Every trigger here is machine-independent: memory estimates are checked against a limit the test sets
(``PGTRAIN_MEMORY_LIMIT``), thread counts against a stubbed limit or beyond Linux's ceiling on thread ids, budgets
with small runs.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from pgtrain import resources
from pgtrain.cli import CONFIG_DIR
from pgtrain.config import to_object
from pgtrain.errors import PgtrainError
from tests.conftest import read_summary, run_cli

ROOT = Path(__file__).resolve().parent.parent


def _compose(*overrides: str):
    with initialize_config_dir(CONFIG_DIR, version_base="1.3"):
        return to_object(compose("config", overrides=list(overrides)))


def _refused(res: subprocess.CompletedProcess, *words: str) -> str:
    """Exit status 2, one line on stderr, no traceback; returns the line."""
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2 and len(lines) == 1 and lines[0].startswith("pgtrain: error: "), res.stderr[-3000:]
    assert "Traceback" not in res.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def _nothing_written(tmp_path: Path) -> None:
    assert sorted(p.name for p in tmp_path.iterdir()) == [], list(tmp_path.iterdir())


# ----------------------------------------------------------------------------------------------------------------------
# Memory


@pytest.mark.parametrize(
    ("args", "key", "what"),
    [
        (["algo.hidden_sizes=[100000,100000]"], "algo.hidden_sizes=[100000, 100000]", "network parameters"),  # the issue's
        (["algo=ddpg", "env=pendulum", "algo.buffer_size=100000000"], "algo.buffer_size=100000000", "replay buffer"),
        (["algo=a2c", "algo.n_steps=1000000", "total_steps=100000000"], "algo.n_steps=1000000", "rollout storage"),
        (["env=pong", "algo.num_envs=4096", "total_steps=100000"], "algo.num_envs=4096", ""),
        (["eval_interval=1000", "eval_episodes=10000000"], "eval_episodes=10000000", "evaluation envs"),
    ],
    ids=["network", "replay", "rollout", "pong-envs", "eval-envs"],
)
def test_a_run_that_cannot_fit_is_refused_in_one_line_before_anything_is_written(cli, tmp_path, args, key, what):
    res = cli(*args, env={resources.MEMORY_LIMIT_ENV: "1G"})
    line = _refused(res, "needs at least", key, what, "1.0 GB is available (PGTRAIN_MEMORY_LIMIT)", f"lower {key.split('=')[0]}")
    assert "of memory" in line
    _nothing_written(tmp_path)


def test_the_estimate_counts_every_allocation_without_making_any(monkeypatch):
    monkeypatch.setenv(resources.MEMORY_LIMIT_ENV, "1G")
    cfg = _compose("algo.hidden_sizes=[1000000,1000000]")  # 10^12 parameters: 16 TB with gradients and Adam
    obs, act = resources.spaces(cfg.env)
    needs = {n.key: n.nbytes for n in resources.memory_needs(cfg, obs, act)}
    params = 4 * 1_000_000 + 1_000_000 + 1_000_000**2 + 1_000_000 + 2 * 1_000_000 + 2  # policy: torso and 2-way head
    params += 4 * 1_000_000 + 1_000_000 + 1_000_000**2 + 1_000_000 + 1_000_000 + 1  # the value baseline
    assert needs["algo.hidden_sizes"] == params * 4 * 4  # float32 parameters, gradients, two Adam moments
    with pytest.raises(PgtrainError, match="TB"):
        resources.check_memory(cfg)
    # the replay buffer: s, s' (3 float32), a (1 float32), r, terminated
    cfg = _compose("algo=ddpg", "env=pendulum", "algo.buffer_size=1000")
    needs = {n.key: n.nbytes for n in resources.memory_needs(cfg, *resources.spaces(cfg.env))}
    assert needs["algo.buffer_size"] == 1000 * (2 * 12 + 4 + 4 + 4)
    # Pong's frames: the lecture's int8 difference frames in episode storage, RGB screens from the emulators
    cfg = _compose("env=pong")
    needs = {n.what: n.nbytes for n in resources.memory_needs(cfg, *resources.spaces(cfg.env))}
    n = cfg.algo.num_envs
    assert n == 32  # the preset's envs (configs/tuned/reinforce_pong.yaml)
    assert needs["episode storage"] == resources.EPISODE_ROWS * n * (6400 + 8 + 4)
    assert needs["the envs and their frame buffers"] >= n * 210 * 160 * 3
    resources.check_memory(cfg)  # the shipped settings fit in 1 GB


def test_on_a_gpu_the_networks_are_checked_against_its_free_memory(monkeypatch):
    monkeypatch.setattr(resources.torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(resources.torch.cuda, "mem_get_info", lambda: (64 * 1024**2, 80 * 1024**3))
    with pytest.raises(PgtrainError, match=r"of GPU memory, .*algo.hidden_sizes=\[4096, 4096\].* is available \(free GPU memory\)"):
        resources.check_memory(_compose("device=cuda", "algo.hidden_sizes=[4096,4096]"))
    resources.check_memory(_compose("device=cuda"))  # 64 MB hold the default networks; the envs stay in host memory


def test_running_out_later_is_still_one_line(monkeypatch, capsys):
    """The estimate is a lower bound; an allocation that fails during the run ends in one line too."""
    from pgtrain import cli

    assert cli._out_of_resources(MemoryError()) and cli._out_of_resources(RuntimeError("can't start new thread"))
    assert cli._out_of_resources(RuntimeError("[enforce fail at alloc_cpu.cpp:127] DefaultCPUAllocator: can't allocate memory"))
    assert not cli._out_of_resources(RuntimeError("mat1 and mat2 must have the same dtype"))

    def allocate(*args, **kwargs):
        raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 40000000000 bytes.\nmore")

    monkeypatch.setattr(cli, "_train", allocate)
    monkeypatch.setattr(sys, "argv", ["pgtrain"])
    with pytest.raises(SystemExit) as ex:
        cli.main()
    err = capsys.readouterr().err
    assert ex.value.code == 2 and err.count("\n") == 1 and err.startswith("pgtrain: error: the machine ran out of memory")


def test_memory_limit_parsing_and_sources(monkeypatch):
    assert resources.parse_bytes("2G") == 2 * 1024**3
    assert resources.parse_bytes("512M") == 512 * 1024**2
    assert resources.parse_bytes("1.5GiB") == int(1.5 * 1024**3)
    assert resources.parse_bytes("12345") == 12345
    with pytest.raises(PgtrainError, match="PGTRAIN_MEMORY_LIMIT"):
        resources.parse_bytes("lots")
    monkeypatch.setenv(resources.MEMORY_LIMIT_ENV, "1M")
    assert resources.memory_available() == (1024**2, "PGTRAIN_MEMORY_LIMIT")
    monkeypatch.setenv(resources.MEMORY_LIMIT_ENV, "1P")  # a cap above the machine's memory changes nothing
    available, source = resources.memory_available()
    assert available < 1024**5 and source != "PGTRAIN_MEMORY_LIMIT"


# ----------------------------------------------------------------------------------------------------------------------
# Threads and processes


def test_torch_threads_beyond_any_machine_are_one_line(cli, tmp_path):
    # more than Linux's ceiling on thread ids (PID_MAX_LIMIT = 2^22): refused on every machine; 100,000 segfaulted
    res = cli("device.torch_threads=10000000")
    _refused(res, "device.torch_threads=10000000", "threads", "lower device.torch_threads")
    _nothing_written(tmp_path)


@pytest.mark.parametrize(
    ("args", "key"),
    [
        (["device.torch_threads=8"], "device.torch_threads"),
        (["device.update_threads=8"], "device.update_threads"),
        (["env=pong", "algo.num_envs=64", "env.num_threads=64"], "env.num_threads"),
        (["env=pendulum", "env.vectorization=async", "algo.num_envs=32"], "algo.num_envs"),
    ],
)
def test_threads_and_processes_beyond_the_machine_are_refused(monkeypatch, args, key):
    monkeypatch.setattr(resources, "threads_startable", lambda: (12, "a limit the test sets"))
    with pytest.raises(PgtrainError, match=rf"^{key}=\d+ would start about \d+ threads or processes .* lower {key}$"):
        resources.check_threads(_compose(*args))
    resources.check_threads(_compose())  # 2 torch threads


def test_the_update_runs_on_update_threads_and_collection_on_torch_threads(tmp_path):
    """device.update_threads=2: each update sees 2 torch threads, the collector between updates sees torch_threads=1."""
    import torch

    ws = _workspace(
        tmp_path / "run", "algo=ppo", "env=cartpole", "algo.num_envs=2", "algo.n_steps=16", "total_steps=96", "device.update_threads=2"
    )
    seen: list[tuple[str, int]] = []
    update, collect = ws.algo.update, ws.collector.collect
    ws.algo.update = lambda batch: seen.append(("update", torch.get_num_threads())) or update(batch)
    ws.collector.collect = lambda *a, **k: seen.append(("collect", torch.get_num_threads())) or collect(*a, **k)
    ws.train()
    assert ("update", 2) in seen and ("collect", 1) in seen
    assert {n for what, n in seen if what == "update"} == {2} and {n for what, n in seen if what == "collect"} == {1}
    assert torch.get_num_threads() == 1


def test_thread_limits_are_read_from_the_machine():
    room, source = resources.threads_startable()
    assert 0 < room <= resources.PID_MAX_LIMIT and source


# ----------------------------------------------------------------------------------------------------------------------
# The budget


@pytest.mark.parametrize(
    "args",
    [
        # one batch is far larger than the budget: 100 CartPole episodes are thousands of steps
        ("algo=reinforce", "env=cartpole", "algo.episodes_per_update=100"),
        ("algo=reinforce", "env=cartpole", "algo.episodes_per_update=2", "env.pipeline_groups=2"),
        ("algo=a2c", "env=cartpole", "algo.n_steps=31"),  # 32 x 31 = 992 steps a rollout: the second one is cut
        ("algo=a2c", "env=pendulum", "algo.num_envs=6", "algo.n_steps=70", "env.pipeline_groups=2"),
        ("algo=ddpg", "env=pendulum", "algo.num_envs=7", "algo.learning_starts=100", "algo.batch_size=32"),
    ],
    ids=["reinforce", "reinforce-pipelined", "a2c", "a2c-pipelined", "ddpg"],
)
def test_a_run_ends_within_one_vector_step_of_its_budget(cli, tmp_path, args):
    run = tmp_path / "run"
    res = cli(*args, "total_steps=1000", "eval_interval=0", f"hydra.run.dir={run}")
    assert res.returncode == 0, res.stderr[-3000:]
    num_envs = _compose(*args).algo.num_envs
    summary = read_summary(run)
    assert 1000 <= summary["env_steps"] < 1000 + num_envs, summary
    if args[-1] == "algo.episodes_per_update=100":  # the ~40 episodes that finished make the one update
        assert summary["updates"] == 1 and "no update was made" not in res.stderr


def _holds_partial_batch(state: dict) -> bool:
    """Whether a checkpoint's collector holds an unfinished batch: finished episodes (REINFORCE) or a partial rollout."""
    collector = state["collector_state"]
    return bool(collector.get("rollout") or collector.get("episodes", {}).get("ready"))


# Pendulum's episodes all last 200 steps, so batch boundaries are known: 2 envs x 16 steps = 32 env steps a rollout until
# step 200; REINFORCE's 2 envs finish 2 episodes every 400 env steps. Each pair: a budget of whole batches, one that
# ends mid-batch, and the updates each makes (PPO counts gradient steps: n_epochs x one minibatch of <= 32 steps).
MID_BATCH = {
    # 1,200 steps: one batch of 4 episodes at 800, then 2 finished episodes, learnt from in a last update
    "reinforce": (["algo=reinforce", "algo.num_envs=2", "algo.episodes_per_update=4"], 800, 1200, (1, 2)),
    # 76 steps: two rollouts, then 6 of 16 steps (12 env steps) bootstrapped from V at the last observation
    "a2c": (["algo=a2c", "algo.num_envs=2", "algo.n_steps=16"], 64, 76, (2, 3)),
    "ppo": (
        ["algo=ppo", "algo.num_envs=2", "algo.n_steps=16", "algo.batch_size=32", "algo.n_epochs=2", "algo.anneal_lr=false"],
        64, 76, (4, 6),  # the partial rollout's 12 steps are one minibatch, smaller than batch_size
    ),
}  # fmt: skip


@pytest.mark.parametrize("algo", MID_BATCH)
def test_a_budget_that_ends_mid_batch_makes_one_last_update_on_what_was_collected(cli, tmp_path, algo):
    from pgtrain import checkpoint
    from pgtrain.curves import load_curve

    args, whole, mid, updates = MID_BATCH[algo]
    states, summaries = [], []
    for steps in (whole, mid):
        run = tmp_path / str(steps)
        res = cli(*args, "env=pendulum", f"total_steps={steps}", "eval_interval=0", f"hydra.run.dir={run}")
        assert res.returncode == 0, res.stderr[-3000:]
        assert "no update was made" not in res.stderr
        summaries.append(read_summary(run))
        states.append(checkpoint.load(run / "checkpoints" / "last.pt"))
        assert not _holds_partial_batch(states[-1])  # the last update took it all
        assert load_curve(run, "loss/policy").steps[-1] == summaries[-1]["env_steps"]  # its metrics are logged
    assert [s["env_steps"] for s in summaries] == [whole, mid]
    assert tuple(s["updates"] for s in summaries) == updates
    assert tuple(s["algo_state"]["updates"] for s in states) == updates
    # without the last update the longer run would end with the weights of the shorter one: it collected, nothing more
    policies = [s["algo_state"]["policy"] for s in states]
    assert any(not (policies[0][name] == policies[1][name]).all() for name in policies[0])


def test_no_update_is_warned_of_only_when_nothing_could_be_learnt(cli, tmp_path):
    """300 Pendulum steps on 2 envs finish no episode: REINFORCE has nothing to learn from, the run says so."""
    run = tmp_path / "run"
    res = cli("env=pendulum", "algo.num_envs=2", "total_steps=300", "eval_interval=0", f"hydra.run.dir={run}")
    assert res.returncode == 0, res.stderr[-3000:]
    assert read_summary(run)["updates"] == 0
    warnings = [line for line in res.stderr.splitlines() if "no update was made" in line]
    assert warnings == ["pgtrain: warning: no update was made: no episode finished within total_steps=300 env steps; raise it"]


def _workspace(run: Path, *overrides: str, resume: bool = False):
    from pgtrain.workspace import Workspace

    with initialize_config_dir(CONFIG_DIR, version_base="1.3"):
        cfg = compose("config", overrides=[*overrides, "progress=false", "eval_interval=0"])
    return Workspace(cfg, run, resume=resume)


def _interrupt_at(ws, step: int) -> None:
    """SIGINT from inside the collector's recording of the vector step that reaches env step ``step`` (held until the
    step is recorded, as any signal that lands there), so the run stops at a known moment."""
    keep = ws.collector._keep

    def keep_then_interrupt(tr):
        out = keep(tr)
        if ws.collector.env_steps >= step:
            os.kill(os.getpid(), signal.SIGINT)
        return out

    ws.collector._keep = keep_then_interrupt


@pytest.mark.parametrize(
    "args",
    [["algo=reinforce", "algo.episodes_per_update=40"], ["algo=a2c", "algo.num_envs=4", "algo.n_steps=64"]],
    ids=["reinforce", "a2c"],
)
def test_an_interrupted_run_keeps_its_partial_batch_and_resumes_exactly(tmp_path, args):
    """Ctrl-C in the middle of a batch: no last update, the batch waits in the checkpoint; the resumed run ends with the
    weights of a run that never stopped."""
    from pgtrain import checkpoint

    total, stop = 1500, 700
    a, b = tmp_path / "a", tmp_path / "b"
    ws = _workspace(b, *args, f"total_steps={total}")
    _interrupt_at(ws, stop)
    with pytest.raises(SystemExit) as ex:
        ws.train()
    assert ex.value.code == 130
    stopped = checkpoint.load(b / "checkpoints" / "last.pt")
    assert stop <= stopped["counters"]["env_steps"] < total
    assert _holds_partial_batch(stopped), "the signal should land in the middle of a batch"
    _workspace(b, *args, f"total_steps={total}", resume=True).train()
    _workspace(a, *args, f"total_steps={total}").train()
    sa, sb = (checkpoint.load(r / "checkpoints" / "last.pt") for r in (a, b))
    assert sa["counters"]["env_steps"] == sb["counters"]["env_steps"] >= total
    assert sa["algo_state"]["updates"] == sb["algo_state"]["updates"] > stopped["algo_state"]["updates"]
    for name, tensor in sa["algo_state"]["policy"].items():
        assert (tensor == sb["algo_state"]["policy"][name]).all(), name


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["algo.num_envs=100000", "total_steps=100"], ["algo.num_envs=100000", "100,000 env steps", "total_steps=100"]),
        (["algo=a2c", "total_steps=100"], ["algo.n_steps=8 x algo.num_envs=32", "256 env steps", "total_steps=100"]),
        (["algo.episodes_per_update=500", "total_steps=400"], ["algo.episodes_per_update=500", "total_steps=400"]),
    ],
    ids=["vector-step", "rollout", "episodes"],
)
def test_a_batch_larger_than_the_budget_is_refused(cli, tmp_path, args, words):
    _refused(cli(*args), *words, "more than the whole budget")
    _nothing_written(tmp_path)


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ["algo=sac", "env=hopper", "total_steps=5000"],  # configs/tuned/sac_hopper.yaml: learning_starts 10,000
            "total_steps=5000 is below algo.learning_starts=10000: no update would run; raise total_steps or lower algo.learning_starts",
        ),
        (
            ["algo=td3", "env=gym", "env.id=MountainCarContinuous-v0", "total_steps=5000"],  # TD3's default: 25,000
            "total_steps=5000 is below algo.learning_starts=25000",
        ),
        (
            ["algo=ddpg", "env=pendulum", "algo.learning_starts=10", "algo.batch_size=600", "total_steps=500"],
            "total_steps=500 is below algo.batch_size=600: no update would run; raise total_steps or lower algo.batch_size",
        ),
    ],
    ids=["sac-learning-starts", "td3-learning-starts", "ddpg-batch-size"],
)
def test_a_replay_budget_that_cannot_reach_the_first_update_is_refused(cli, tmp_path, args, line):
    _refused(cli(*args), line)
    _nothing_written(tmp_path)


def test_a_budget_that_just_reaches_learning_starts_runs_and_the_bar_shows_the_warm_up_return(cli, tmp_path):
    """400 Pendulum steps on one env: two 200-step episodes of random warm-up actions, then the first update at step 400
    (the buffer holds learning_starts=400 transitions). The last progress line shows the warm-up's return, labelled."""
    run = tmp_path / "run"
    args = ["algo=ddpg", "env=pendulum", "algo.num_envs=1", "algo.learning_starts=400", "algo.batch_size=16", "algo.hidden_sizes=[16]"]
    res = cli(*args, "total_steps=400", "eval_interval=0", f"hydra.run.dir={run}")
    assert res.returncode == 0, res.stderr[-3000:]
    summary = read_summary(run)
    assert summary["episodes"] == 2 and summary["updates"] >= 1 and summary["final_return"] is None  # warm-up only
    last = [line for line in res.stdout.splitlines() if line.startswith("step")][-1]
    assert "mean return -" in last and last.endswith("(random warm-up)"), last


# ----------------------------------------------------------------------------------------------------------------------
# Disk


def test_thousands_of_files_get_one_warning_and_the_run_goes_on(cli, tmp_path):
    run = tmp_path / "run"
    res = cli("total_steps=8000", "checkpoint_interval=1", f"hydra.run.dir={run}")
    assert res.returncode == 0, res.stderr[-3000:]
    warnings = [line for line in res.stderr.splitlines() if line.startswith("pgtrain: warning: ")]
    assert len(warnings) == 1, res.stderr
    assert "checkpoint_interval=1" in warnings[0] and "1,000 checkpoints" in warnings[0], warnings[0]
    assert read_summary(run)["env_steps"] >= 8000


def test_disk_warning_counts():
    cfg = _compose("algo=ddpg", "env=pendulum", "total_steps=100000", "checkpoint_interval=10", "video_interval=50")
    lines = resources.disk_warnings(cfg)
    assert len(lines) == 2
    assert "checkpoint_interval=10" in lines[0] and "10,000 checkpoints" in lines[0] and "KB each" in lines[0] and "GB in all" in lines[0]
    assert "video_interval=50" in lines[1] and "2,000 videos" in lines[1]
    assert resources.disk_warnings(cfg, start_step=95_000) == []  # a resume near the end writes few
    # A2C checks its schedules once per 256-step rollout: checkpoint_interval=1 writes one a rollout
    assert resources.disk_warnings(_compose("algo=a2c", "total_steps=200000", "checkpoint_interval=1")) == []
    assert resources.disk_warnings(_compose("total_steps=200000", "checkpoint_interval=1000")) == []


# ----------------------------------------------------------------------------------------------------------------------
# Fuzz: random wrong values over every key --help lists


COMBOS = {  # each group's keys as --help lists them, with settings that make an accepted case a short run
    "reinforce-cartpole": ([], ["total_steps=300"]),
    "a2c-cartpole": (["algo=a2c"], ["total_steps=300"]),
    "ddpg-pendulum": (["algo=ddpg", "env=pendulum"], ["total_steps=300", "algo.learning_starts=100", "algo.batch_size=32"]),
    "reinforce-pong": (["env=pong"], ["total_steps=200", "env.max_episode_steps=100", "algo.num_envs=4"]),
}
WRONG = [
    "-1", "-1000000000", "0", "1e300", "1000000000000000000000000000000", "2147483648", "nan", "inf", "-inf", "''",
    "[1,2]", "[]", "[100000000000]", "abc", "true", "null", "{a:1}", "0.5", "1e-320",
]  # fmt: skip
FUZZ_CASES = 48
FUZZ_SEED = 20


def _help_keys(text: str) -> list[str]:
    """The dotted keys of the options sections of ``pgtrain --help`` (``top level:``, ``algo: NAME``, ...)."""
    keys: list[str] = []
    prefix = None
    for line in text.split("Options, their values and meanings", 1)[1].splitlines():
        if head := re.fullmatch(r"(top level|algo|env|device):.*", line):
            prefix = "" if head.group(1) == "top level" else head.group(1) + "."
        elif prefix is not None and (row := re.match(r"  (\w+): ", line)):
            keys.append(prefix + row.group(1))
        elif not line.strip():
            prefix = None
    return keys


def _drive(cases: list[list[str]], tmp_path: Path, timeout_s: float) -> list[dict]:
    spec, out = tmp_path / "cases.json", tmp_path / "results.json"
    spec.write_text(json.dumps({"cases": cases, "timeout_s": timeout_s}))
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "fuzz_driver.py"), str(spec), str(out)],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    last = proc.stderr.strip().splitlines()[-1:] or ["(none)"]
    assert proc.returncode == 0, f"the driver died (status {proc.returncode}) in {last[0]}\n{proc.stderr[-3000:]}"
    return json.loads(out.read_text())


def _asked_for_a_long_run(args: list[str]) -> bool:
    """Whether a case still running at its timeout is a run it asked for: its last argument sets ``total_steps`` above
    every short budget of COMBOS, and the run was accepted (its directory holds the composed config)."""
    key, _, value = args[-1].partition("=")
    run_dir = Path(next(a for a in args if a.startswith("hydra.run.dir=")).split("=", 1)[1])
    try:
        steps = float(value)
    except ValueError:
        return False
    return key == "total_steps" and steps > 300 and (run_dir / ".hydra" / "config.yaml").is_file()


def test_fuzz_wrong_values_never_crash(tmp_path):
    """A seeded draw of wrong values (negative, huge, wrong type, empty, nan, lists) for keys --help lists: every case
    ends with status 0 (accepted, ran) or 2 (one line) within its timeout, unless it asked for a longer budget
    (``total_steps`` above the short run's), was accepted and is still training; never a traceback, never a signal."""
    helps = _drive([["--help", *groups] for groups, _ in COMBOS.values()], tmp_path, timeout_s=60)
    keys = {name: _help_keys(h["stdout"]) for name, h in zip(COMBOS, helps, strict=True)}
    assert {"total_steps", "algo.hidden_sizes", "env.num_threads", "algo.buffer_size", "algo.n_steps"} <= {
        k for ks in keys.values() for k in ks
    }
    # the test's list is --help's: the real command lists the same keys
    real = run_cli("--help", cwd=tmp_path)
    assert _help_keys(real.stdout) == keys["reinforce-cartpole"]

    rng = random.Random(FUZZ_SEED)
    pairs = [(name, key, value) for name, ks in keys.items() for key in ks for value in WRONG]
    cases = []
    for i, (name, key, value) in enumerate(rng.sample(pairs, FUZZ_CASES)):
        groups, short = COMBOS[name]
        short = [s for s in short if s.split("=")[0] != key]
        cases.append([*groups, *short, "progress=false", f"hydra.run.dir={tmp_path / f'run{i}'}", f"{key}={value}"])
    results = _drive(cases, tmp_path, timeout_s=20)
    bad = [
        r for r in results
        if "Traceback" in r["stderr"] or r["status"] not in (0, 2, None)
        or (r["status"] == 2 and len(r["stderr"].strip().splitlines()) != 1)
        or (r["status"] is None and not _asked_for_a_long_run(r["args"]))
    ]  # fmt: skip
    assert not bad, "\n\n".join(f"{' '.join(r['args'])}\n-> {r['status']}\n{r['stderr'][-2000:]}" for r in bad)
    statuses = [r["status"] for r in results]
    assert statuses.count(2) >= FUZZ_CASES // 3 and statuses.count(0) >= 1, statuses  # both outcomes were exercised
