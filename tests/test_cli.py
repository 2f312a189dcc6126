"""End-to-end ``pgtrain`` runs as subprocesses: the run-directory contract, errors, help, directories."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from pgtrain import checkpoint
from pgtrain.cli import CONFIG_DIR
from tests.conftest import read_summary

SUMMARY_KEYS = {"algo", "env", "seed", "env_steps", "episodes", "wall_time_s", "steps_per_second", "final_return"}


def _events(run_dir: Path) -> EventAccumulator:
    acc = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
    acc.Reload()
    return acc


def test_run_directory_contract(cli, tmp_path):
    res = cli("total_steps=3000", "seed=3", "checkpoint_interval=1000", "algo.episodes_per_update=4")
    assert res.returncode == 0, res.stderr
    runs = [p for p in (tmp_path / "runs").iterdir() if p.is_dir()]
    assert len(runs) == 1
    run = runs[0]
    assert run.name.startswith("reinforce-cartpole-seed3-")  # algo, env, seed, then the time
    # Hydra's config
    cfg = (run / ".hydra" / "config.yaml").read_text()
    assert "name: reinforce" in cfg and "seed: 3" in cfg
    # checkpoints: last.pt and periodic ones, loadable
    ckpts = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert "last.pt" in ckpts and any(n.startswith("step_") for n in ckpts), ckpts
    state = checkpoint.load(run / "checkpoints" / "last.pt")
    assert state["algo"] == "reinforce" and state["counters"]["env_steps"] >= 3000
    assert isinstance(state["algo_state"]["policy"]["head.weight"], torch.Tensor)
    # summary
    summary = read_summary(run)
    assert SUMMARY_KEYS <= set(summary)
    assert (summary["algo"], summary["env"], summary["seed"]) == ("reinforce", "cartpole", 3)
    assert summary["env_steps"] >= 3000 and summary["episodes"] > 0
    assert summary["steps_per_second"] > 0 and summary["wall_time_s"] > 0
    # TensorBoard scalars, x = env steps
    acc = _events(run)
    tags = set(acc.Tags()["scalars"])
    expected = {"train/episodic_return", "train/episodic_length", "time/sps", "loss/policy", "loss/value", "policy/entropy"}
    assert expected <= tags, tags
    assert "policy/grad_variance" in tags
    returns = acc.Scalars("train/episodic_return")
    assert len(returns) == summary["episodes"]
    assert returns[-1].step <= summary["env_steps"]
    values = [e.value for e in returns]
    lengths = [e.value for e in acc.Scalars("train/episodic_length")]
    assert values == lengths  # CartPole pays 1 a step
    last = values[-100:]
    assert summary["final_return"] == pytest.approx(sum(last) / len(last), rel=1e-6)
    # every step is in a logged episode but the unfinished ones: at most 8 envs x CartPole's 500 steps
    assert sum(lengths) <= summary["env_steps"] < sum(lengths) + 8 * 500
    # HParams: the config and the final metric in this run's own event file
    hp = acc.PluginTagToContent("hparams")
    assert "_hparams_/experiment" in hp and "_hparams_/session_start_info" in hp
    assert b"algo.lr" in hp["_hparams_/session_start_info"]
    # plain progress lines, because stdout is not a terminal
    assert "step" in res.stdout and "sps" in res.stdout


def test_nothing_outside_the_run_directory(cli, tmp_path):
    res = cli("total_steps=500", f"hydra.run.dir={tmp_path / 'mine'}")
    assert res.returncode == 0, res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]


def test_existing_run_directory_is_never_overwritten(cli, tmp_path):
    run = tmp_path / "run"
    assert cli("total_steps=500", f"hydra.run.dir={run}").returncode == 0
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    res = cli("total_steps=500", "seed=9", f"hydra.run.dir={run}")
    assert res.returncode != 0
    assert res.stderr.count("\n") == 1 and "already exists" in res.stderr and "Traceback" not in res.stderr
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before


@pytest.mark.parametrize(
    "args, words",
    [
        (["algo=nope"], "Could not find 'algo/nope'"),
        (["env=nope"], "Could not find 'env/nope'"),
        (["device=tpu"], "Could not find 'device/tpu'"),
        (["nosuchkey=1"], "Could not override 'nosuchkey'"),
        (["algo.nosuchkey=1"], "Key 'nosuchkey' not in 'ReinforceConfig'"),
        (["seed=abc"], "could not be converted to Integer"),
        (["algo.baseline=median"], "expected one of [none, mean, value]"),
        (["algo.gamma=1.01"], "algo.gamma=1.01 is out of range"),
        (["total_steps=-1"], "total_steps=-1 is out of range"),
        (["algo.num_envs=0"], "algo.num_envs=0 is out of range"),
        (["algo.lr=0"], "algo.lr=0.0 is out of range"),
    ],
)
def test_bad_input_is_one_line_nonzero_and_writes_nothing(cli, tmp_path, args, words):
    res = cli(*args)
    assert res.returncode == 2
    assert res.stderr.startswith("pgtrain: error: ") and res.stderr.count("\n") == 1, res.stderr
    assert words in res.stderr
    assert "Traceback" not in res.stderr + res.stdout
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_gpu_is_refused(cli, tmp_path):
    res = cli("device=cuda")
    assert res.returncode == 2 and "device=cuda" in res.stderr and res.stderr.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU here: device=cuda is refused instead (test above)")
@pytest.mark.parametrize("args", [(), ("algo=ddpg", "env=pendulum", "algo.learning_starts=200")], ids=["reinforce", "ddpg"])
def test_cuda_trains_on_the_gpu_and_resumes(cli, tmp_path, args):
    """On a GPU machine, device=cuda trains there (the summary names it), checkpoints load on the CPU, and a resume
    goes on."""
    run = tmp_path / "run"
    res = cli("device=cuda", *args, "total_steps=2000", f"hydra.run.dir={run}")
    assert res.returncode == 0, res.stderr
    summary = read_summary(run)
    assert summary["device"] == "cuda" and summary["env_steps"] >= 2000 and summary["updates"] > 0, summary
    state = torch.load(run / "checkpoints" / "last.pt", weights_only=True, map_location="cpu")
    assert state["counters"]["env_steps"] == summary["env_steps"]
    res = cli(f"resume={run}", "total_steps=4000")
    assert res.returncode == 0, res.stderr
    assert read_summary(run)["env_steps"] >= 4000 and read_summary(run)["device"] == "cuda"


def test_help_lists_groups_and_options(cli):
    res = cli("--help")
    assert res.returncode == 0
    for word in ("algo:", "env:", "device:", "reinforce", "cartpole", "pendulum", "episodes_per_update", "total_steps"):
        assert word in res.stdout
    listed = dict(re.findall(r"^  (\w+): +(.+)$", res.stdout, re.M))
    configs = Path(CONFIG_DIR)
    for group in ("algo", "env", "device"):  # every option of every group, ac_online included
        assert set(listed[group].split(" | ")) == {p.stem for p in (configs / group).glob("*.yaml")}
    assert listed["algo"].startswith("reinforce |") and listed["env"].startswith("cartpole |")  # the defaults first


def test_help_lists_options_from_the_config_directory(tmp_path, monkeypatch):
    """A new algorithm or env appears in --help as soon as its YAML exists: nothing to edit in a template."""
    import shutil

    from pgtrain import cli as cli_module

    configs = tmp_path / "configs"
    shutil.copytree(CONFIG_DIR, configs)
    (configs / "algo" / "zzz.yaml").write_text("name: zzz\n")
    (configs / "newgroup").mkdir()
    (configs / "newgroup" / "one.yaml").write_text("x: 1\n")
    monkeypatch.setattr(cli_module, "CONFIG_DIR", str(configs))
    text = cli_module.groups_help()
    algo_line = next(line for line in text.splitlines() if line.startswith("  algo:"))
    assert algo_line.split(":", 1)[1].split(" | ")[-1].strip() == "zzz" and " reinforce | " in algo_line
    assert text.splitlines()[-1] == "  newgroup: one" and "tuned" not in text and "hydra" not in text


def test_multirun_goes_under_runs_multirun(cli, tmp_path):
    res = cli("-m", "seed=0,1", "total_steps=300")
    assert res.returncode == 0, res.stderr
    sweeps = list((tmp_path / "runs" / "multirun").iterdir())
    assert len(sweeps) == 1
    jobs = sorted(p.name for p in sweeps[0].iterdir() if p.is_dir())
    assert jobs == ["0_seed=0,total_steps=300", "1_seed=1,total_steps=300"]  # named by the overrides
    assert [json.loads((sweeps[0] / j / "summary.json").read_text())["seed"] for j in jobs] == [0, 1]


def test_reinforce_on_pendulum_runs(cli, tmp_path):
    res = cli("env=pendulum", "total_steps=2000", f"hydra.run.dir={tmp_path / 'r'}")
    assert res.returncode == 0, res.stderr
    summary = read_summary(tmp_path / "r")
    assert summary["env"] == "pendulum" and summary["episodes"] >= 8
    assert -2000 < summary["final_return"] < 0
