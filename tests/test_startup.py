"""Start-up: what ``pgtrain`` imports before it answers, Ctrl-C while it loads, and the optimisers that keep
``torch._dynamo`` out of a run. Times are measured by scripts/bench_startup.py, not here."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from pgtrain.workarounds import optimizers
from tests.conftest import ROOT

BENCH = ROOT / "scripts" / "bench_startup.py"


def _imported(*args: str, cwd: Path, module: str = "pgtrain.cli") -> tuple[subprocess.CompletedProcess, set[str]]:
    """Run ``python -X importtime -m module ARGS``; returns the process and the names of the modules it imported."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    res = subprocess.run([sys.executable, "-X", "importtime", "-m", module, *args], cwd=cwd, capture_output=True, text=True, env=env)
    modules = set(re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s+(\S+)$", res.stderr, re.M))
    assert "pgtrain.config" in modules or module != "pgtrain.cli", res.stderr[-2000:]
    return res, modules


@pytest.mark.parametrize(
    "args, status",
    [
        (["--help"], 0),
        (["--help", "algo=ppo", "env=cartpole"], 0),  # an algorithm's options, meanings and tuned values
        (["algo.lr=-1"], 2),  # a refused value
        (["algo.bogus=1"], 2),  # a refused key
        (["algo=nope"], 2),  # a refused option
        (["algo=ddpg", "env=cartpole"], 2),  # an algorithm that cannot drive the env's actions
        (["resume=no/such/run"], 2),
        (["resume=no/such/run", "algo.lr=1"], 2),  # a key a resume may not change
    ],
)
def test_help_and_refused_commands_never_import_torch(tmp_path, args, status):
    res, modules = _imported(*args, cwd=tmp_path)
    assert res.returncode == status, res.stderr[-2000:]
    assert "torch" not in modules
    assert list(tmp_path.iterdir()) == []


def test_report_and_plot_never_import_torch(tmp_path):
    for module, prog in (("pgtrain.report", "pgtrain-report"), ("pgtrain.plotting", "pgtrain-plot")):
        res, modules = _imported(str(tmp_path), cwd=tmp_path, module=module)
        assert res.returncode == 2 and f"{prog}: error: " in res.stderr, res.stderr[-2000:]
        assert "pgtrain.curves" in modules and "torch" not in modules


# ----------------------------------------------------------------------------------------------------------------------
# Ctrl-C while pgtrain loads

# Runs pgtrain as ``python -m pgtrain.cli`` does, sending itself SIGINT at the moment module TRIGGER starts to load: the
# signal lands inside that import, deterministically.
SIGINT_DURING_IMPORT = textwrap.dedent(
    """
    import importlib.abc, os, runpy, signal, sys

    TRIGGER = sys.argv[1]
    # as from a terminal, whatever launched the tests: a shell's background job inherits SIGINT ignored, and Python
    # then leaves it ignored
    signal.signal(signal.SIGINT, signal.default_int_handler)

    class Trigger(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == TRIGGER:
                sys.meta_path.remove(self)
                os.kill(os.getpid(), signal.SIGINT)  # Python raises KeyboardInterrupt at its next instruction, here
            return None

    sys.argv = ["pgtrain", *sys.argv[2:]]
    sys.meta_path.insert(0, Trigger())
    runpy.run_module("pgtrain.cli", run_name="__main__", alter_sys=True)
    """
)


@pytest.mark.parametrize(
    "trigger",
    [
        "hydra",  # while pgtrain.cli's own imports load
        "torch",  # while the run loads torch, after its config was composed and checked
    ],
)
def test_ctrl_c_while_loading_is_one_line_and_status_130(tmp_path, trigger):
    argv = [sys.executable, "-c", SIGINT_DURING_IMPORT, trigger, "total_steps=1000", f"hydra.run.dir={tmp_path / 'run'}"]
    res = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert res.returncode == 130, res.stderr[-3000:]
    assert res.stderr == "pgtrain: interrupted\n"
    assert not (tmp_path / "run" / "checkpoints").exists()


# ----------------------------------------------------------------------------------------------------------------------
# Optimisers without torch._dynamo


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("Adam", {"lr": 1e-2}),
        ("Adam", {"lr": 1e-2, "fused": True}),
        ("SGD", {"lr": 1e-1, "fused": True}),
        ("RMSprop", {"lr": 1e-2, "alpha": 0.99, "eps": 1e-5}),
    ],
)
def test_optimisers_take_the_same_steps_and_state_dicts_as_torchs(name, kwargs):
    def net() -> torch.nn.Module:
        torch.manual_seed(0)
        return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))

    ours_net, theirs_net = net(), net()
    ours = getattr(optimizers, name)(ours_net.parameters(), **kwargs)
    theirs = getattr(torch.optim, name)(theirs_net.parameters(), **kwargs)
    assert isinstance(ours, getattr(torch.optim, name))
    x = torch.randn(16, 4, generator=torch.Generator().manual_seed(1))
    for _ in range(5):
        for model, opt in ((ours_net, ours), (theirs_net, theirs)):
            opt.zero_grad(set_to_none=True)
            model(x).pow(2).mean().backward()
            opt.step()
    for a, b in zip(ours_net.parameters(), theirs_net.parameters(), strict=True):
        assert torch.equal(a, b)
    mine, torchs = ours.state_dict(), theirs.state_dict()
    assert mine["param_groups"] == torchs["param_groups"]
    for key in torchs["state"]:
        for field, value in torchs["state"][key].items():
            assert torch.equal(mine["state"][key][field], value)
    theirs.load_state_dict(mine)  # each reads the other's state dicts (checkpoints)
    ours.load_state_dict(torchs)


RUN_AND_REPORT = textwrap.dedent(
    """
    import atexit, runpy, sys

    sys.argv = ["pgtrain", *sys.argv[1:]]
    # at exit: the console script ends through pgtrain.workarounds.exits, which runs the atexit handlers but no finally block
    atexit.register(lambda: print("dynamo" if "torch._dynamo" in sys.modules else "no dynamo"))
    runpy.run_module("pgtrain.cli", run_name="__main__")
    """
)


@pytest.mark.parametrize(
    "args",
    [
        ["algo=reinforce", "env=cartpole", "algo.optimizer=rmsprop"],  # torch's per-parameter loop
        ["algo=ddpg", "env=pendulum", "algo.learning_starts=100", "algo.max_grad_norm=1"],  # fused Adam, clipping
    ],
)
def test_a_run_never_imports_torch_dynamo(tmp_path, args):
    run = tmp_path / "run"
    res = subprocess.run(
        [sys.executable, "-c", RUN_AND_REPORT, *args, "total_steps=600", "progress=false", f"hydra.run.dir={run}"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.strip().endswith("no dynamo")
    state = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    assert any(v["state"] for k, v in state["algo_state"].items() if k.endswith("opt"))  # the optimisers stepped


def test_bench_startup_meets_its_targets(tmp_path):
    """README's start-up targets: --help and a refused command within 0.5x the time of importing torch, a 1,000-step
    CartPole run within 1.3x that of importing torch and gymnasium. Checked on CPU time (user + system, medians of 3),
    which other jobs on the machine stretch far less than wall time; the wall ratios are the benchmark's to report."""
    out = tmp_path / "bench.json"
    res = subprocess.run([sys.executable, str(BENCH), "--repeats", "3", "--json", str(out)], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    for line in ("pgtrain --help", "pgtrain algo.lr=-1 (refused)", "pgtrain total_steps=1000"):
        assert re.search(rf"{re.escape(line)}\s+/ import torch.*x \(.*x\)  \(target <= ", res.stdout), res.stdout
    ratios = json.loads(out.read_text())["ratios"]
    assert [r["target"] for r in ratios] == [0.5, 0.5, 1.3]
    assert all(0 < r["cpu_ratio"] <= r["target"] for r in ratios), ratios


# ----------------------------------------------------------------------------------------------------------------------
# TensorBoard event files without torch.utils.tensorboard


def test_event_files_read_back_with_tensorboard_and_a_resume_purges_later_steps(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c as tensorboards_crc

    from pgtrain.workarounds.events import EventWriter, masked_crc32c

    for data in (b"", b"a", bytes(range(256)) * 3):
        assert masked_crc32c(data) == tensorboards_crc(data)
    first = EventWriter(tmp_path)
    for step in range(1, 6):
        first.add_scalar("x", step, step)
    first.close()
    resumed = EventWriter(tmp_path, purge_step=3)  # a resumed process drops what the first logged from step 3 on
    for step in (3, 4):
        resumed.add_scalar("x", 10 * step, step)
    resumed.close()
    acc = EventAccumulator(str(tmp_path), size_guidance={"scalars": 0})
    acc.Reload()
    assert [(e.step, e.value) for e in acc.Scalars("x")] == [(1, 1.0), (2, 2.0), (3, 30.0), (4, 40.0)]
    assert len(list(tmp_path.glob("events.out.tfevents.*"))) == 2


def test_hparams_summaries_are_torchs():
    from torch.utils.tensorboard.summary import hparams as torchs

    from pgtrain.workarounds.events import hparams

    config = {"algo.lr": 0.01, "algo.num_envs": 8, "algo.name": "a2c", "progress": True, "algo.value_lr": None}
    metrics = {"summary/final_return": 12.5}
    assert [s.SerializeToString() for s in hparams(config, metrics)] == [s.SerializeToString() for s in torchs(config, metrics)]
