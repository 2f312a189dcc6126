"""End-to-end ``pgtrain`` runs as subprocesses: the run-directory contract, errors, help, directories."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
import yaml
from omegaconf import OmegaConf
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
    assert run.name.startswith("reinforce-CartPole-v1-seed3-")  # algo, env id, seed, then the time
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
    # where it went: first line and last lines, paths as typed relative to the working directory
    rel = f"runs/{run.name}"
    lines = res.stdout.splitlines()
    assert lines[0] == f"pgtrain: run directory {rel}"
    tail = lines[-6:]
    assert tail[0].startswith(f"pgtrain: finished {summary['env_steps']:,} env steps, {summary['episodes']:,} episodes in ")
    assert len(returns) < 100  # a short run: its final return averages every episode, and says so
    final = sum(r.value for r in returns) / len(returns)  # from the event file, not the summary
    assert tail[1] == f"  final return: {final:,.2f} (mean return of all {len(returns)} training episodes)", tail[1]
    assert tail[2] == "  not solved (mean return of 100 episodes >= 475)"
    assert tail[3:] == [
        f"  checkpoint: {rel}/checkpoints/last.pt",
        f"  curves:     tensorboard --logdir {rel}",
        f"  evaluate:   pgtrain-eval {rel}",
    ]


def test_a_solved_run_says_when_and_names_its_env_id(cli, tmp_path):
    """A generic env's directory carries its id; the summary says when the run was solved, in env steps and time."""
    args = ("env=gym", "env.id=Acrobot-v1", "algo.num_envs=1", "total_steps=1200", "env.solve_threshold=-1000", "env.solve_window=2")
    res = cli(*args)
    assert res.returncode == 0, res.stderr
    (run,) = (tmp_path / "runs").iterdir()
    assert run.name.startswith("reinforce-Acrobot-v1-seed0-")
    solved = read_summary(run)["solved"]
    assert solved is not None  # Acrobot's episodes end within 500 steps, with a return >= -500
    lines = res.stdout.splitlines()
    (line,) = [line for line in lines if line.startswith("  solved at: ")]
    seconds = f"{solved['wall_time_s']:.1f} s"
    assert line == f"  solved at: {solved['env_steps']:,} env steps after {seconds} (mean return of 2 episodes >= -1000)"
    assert f"  evaluate:   pgtrain-eval runs/{run.name}" in lines


def test_run_directory_names_are_path_safe_env_ids():
    from hydra import compose, initialize_config_dir

    from pgtrain import cli as _  # noqa: F401  (registers the resolvers)

    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("config", overrides=["algo=ppo", "env=atari", "env.id=ALE/Breakout-v5", "seed=4"], return_hydra_config=True)
    assert re.fullmatch(r"runs/ppo-ALE_Breakout-v5-seed4-\d{8}-\d{6}-\d{6}", cfg.hydra.run.dir), cfg.hydra.run.dir


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
        (["algo=nope"], "algo=nope: no such algo (choose one of a2c, ac_online, ddpg, ppo, reinforce, sac, td3)"),
        (["algo=PPO"], "algo=PPO: no such algo; did you mean algo=ppo? (choose one of "),
        (["env=cartpol"], "env=cartpol: no such env; did you mean env=cartpole?"),
        (["device=tpu"], "device=tpu: no such device; did you mean device=cpu?"),
        (["nosuchkey=1"], "nosuchkey: pgtrain has no such option (pgtrain --help lists the options)"),
        (["total_stepz=1"], "total_stepz: pgtrain has no such option; did you mean total_steps?"),
        (["algo.nosuchkey=1"], "algo.nosuchkey: algo=reinforce has no such option"),
        (["algo=ppo", "algo.clip_rnage=0.2"], "algo.clip_rnage: algo=ppo has no such option; did you mean algo.clip_range?"),
        (["seed=abc"], "seed=abc: seed takes an integer, e.g. seed=0"),
        (["total_steps=2.5"], "total_steps=2.5: total_steps takes an integer, e.g. total_steps=2"),
        (["algo.lr=fast"], "algo.lr=fast: algo.lr takes a number, e.g. algo.lr=0.015"),  # REINFORCE's default lr
        (["algo=ppo", "algo.clip_range=wide"], "algo.clip_range=wide: algo.clip_range takes a number, e.g. algo.clip_range=0.3"),
        (["algo.normalize_advantage=maybe"], "takes true or false, e.g. algo.normalize_advantage=true"),
        (["algo.hidden_sizes=wide"], "algo.hidden_sizes takes a list, e.g. algo.hidden_sizes=[64,64]"),
        (["algo.baseline=median"], "algo.baseline=median: algo.baseline takes one of none, mean, value; did you mean algo.baseline=mean?"),
        (["env=gym"], "env.id has no value: set it, e.g. env.id=VALUE"),
        (["seed=0", "seed=1"], "seed is given twice (seed=0 and seed=1): give it once"),
        (["algo=ppo", "total_steps=100", "algo=a2c"], "algo is given twice (algo=ppo and algo=a2c)"),
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
    assert "object_type" not in res.stderr and "Config" not in res.stderr  # the schemas' class names mean nothing to a user
    assert list(tmp_path.iterdir()) == []


def test_whole_numbers_written_as_floats_are_integers(cli, tmp_path):
    res = cli("total_steps=1.2e3", "checkpoint_interval=1e3", "algo.lr=1e-2", f"hydra.run.dir={tmp_path / 'r'}")
    assert res.returncode == 0, res.stderr
    cfg = OmegaConf.load(tmp_path / "r" / ".hydra" / "config.yaml")
    assert (cfg.total_steps, cfg.checkpoint_interval, cfg.algo.lr) == (1200, 1000, 0.01)
    assert read_summary(tmp_path / "r")["env_steps"] >= 1200 and list((tmp_path / "r" / "checkpoints").glob("step_*.pt"))


def test_a_sweep_job_refused_at_its_start_leaves_no_job_directory(cli, tmp_path):
    """A sweep's jobs are checked as they start, after Hydra made their directories: a refused job removes its own."""
    res = cli("-m", "algo=sac", "env=hopper", "total_steps=5000")
    assert res.returncode == 2, res.stderr
    assert res.stderr.splitlines()[-1].startswith("pgtrain: error: total_steps=5000 is below algo.learning_starts=10000")
    assert "Traceback" not in res.stderr
    (sweep,) = (tmp_path / "runs" / "multirun").iterdir()
    assert sorted(p.name for p in sweep.iterdir()) == ["multirun.yaml"]  # the sweep's record stays, the job's directory goes


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_a_refused_resume_keeps_every_file_of_the_run(cli, tmp_path):
    run = tmp_path / "run"
    assert cli("total_steps=100", "algo.num_envs=2", f"hydra.run.dir={run}").returncode == 0
    before = {p: p.stat().st_mtime_ns for p in run.rglob("*")}
    res = cli(f"resume={run}", "total_steps=200", "device.name=cuda")
    assert res.returncode == 2 and "device=cuda" in res.stderr and res.stderr.count("\n") == 1, res.stderr
    assert {p: p.stat().st_mtime_ns for p in run.rglob("*")} == before


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


ALGO_OPTIONS = sorted(p.stem for p in (Path(CONFIG_DIR) / "algo").glob("*.yaml"))
PRESETS = {"ac_online": "a2c"}  # algo options that are presets of another algorithm's
TUNED = sorted(p.stem for p in (Path(CONFIG_DIR) / "tuned").glob("*.yaml"))


def _help_rows(capsys, *overrides: str) -> tuple[str, dict[str, dict[str, tuple[str, str]]]]:
    """``pgtrain --help OVERRIDES``: its text and, per section (top level, algo, env, device), each option's shown value
    and the words after its ``#``."""
    from pgtrain.cli import print_help

    print_help(list(overrides))
    text = capsys.readouterr().out
    sections: dict[str, dict[str, tuple[str, str]]] = {}
    current = None
    for line in text.splitlines():
        if head := re.fullmatch(r"(top level|algo|env|device):.*", line):
            current = sections.setdefault(head.group(1), {})
        elif current is not None and (row := re.fullmatch(r"  (\w+): (.*?) +# (.*)", line)):
            current[row.group(1)] = (row.group(2), row.group(3))
        elif not line.strip():
            current = None
    return text, sections


@pytest.mark.parametrize("algo", ALGO_OPTIONS)
def test_help_shows_exactly_the_algorithms_options_each_with_a_meaning(algo, capsys):
    import dataclasses

    from pgtrain.algos import schema

    text, sections = _help_rows(capsys, f"algo={algo}")
    assert f"\nalgo: {algo}\n" in text
    rows = sections["algo"]
    assert list(rows) == [f.name for f in dataclasses.fields(schema(PRESETS.get(algo, algo)))]
    for key, (_, words) in rows.items():
        meaning = re.sub(r" ?\[[^\]]*\]$", "", words)
        assert len(meaning) > 10, f"algo.{key} has no meaning in --help: {words!r}"
    preset = yaml.safe_load((Path(CONFIG_DIR) / "algo" / f"{algo}.yaml").read_text())
    for key, value in preset.items():  # a preset's own values name its file
        if algo in PRESETS and key != "defaults":
            assert yaml.safe_load(rows[key][0]) == value and f"[configs/algo/{algo}.yaml; default " in rows[key][1], key


@pytest.mark.parametrize("pair", TUNED)
def test_help_marks_the_tuned_presets_values(pair, capsys):
    algo, env = pair.split("_", 1)
    text, sections = _help_rows(capsys, f"algo={algo}", f"env={env}")
    assert f"[tuned]: from configs/tuned/{pair}.yaml" in text
    tuned = yaml.safe_load((Path(CONFIG_DIR) / "tuned" / f"{pair}.yaml").read_text())
    expected = {("top level", k): v for k, v in tuned.items() if not isinstance(v, dict)}
    expected.update({(group, k): v for group in ("algo", "env", "device") for k, v in tuned.get(group, {}).items()})
    marked = {(group, key) for group, rows in sections.items() for key, (_, words) in rows.items() if "[tuned" in words}
    assert marked == set(expected)
    for (group, key), value in expected.items():
        assert yaml.safe_load(sections[group][key][0]) == value, (group, key)


def test_help_marks_the_command_line_over_a_tuned_value(capsys):
    _, sections = _help_rows(capsys, "algo=ppo", "env=cartpole", "algo.clip_range=0.25")
    assert sections["algo"]["clip_range"] == ("0.25", sections["algo"]["clip_range"][1])
    assert sections["algo"]["clip_range"][1].endswith("[command line; default 0.2]")
    assert sections["algo"]["n_epochs"][1].endswith("[tuned; default 4]")  # the tuned file's value, equal to the default


def test_multirun_goes_under_runs_multirun(cli, tmp_path):
    res = cli("-m", "seed=0,1", "total_steps=3e2")  # a whole number written as a float is an integer, in a sweep too
    assert res.returncode == 0, res.stderr
    sweeps = list((tmp_path / "runs" / "multirun").iterdir())
    assert len(sweeps) == 1
    jobs = sorted(p.name for p in sweeps[0].iterdir() if p.is_dir())
    assert jobs == ["0_seed=0,total_steps=300", "1_seed=1,total_steps=300"]  # named by the overrides
    assert [json.loads((sweeps[0] / j / "summary.json").read_text())["seed"] for j in jobs] == [0, 1]
    # stdout is not a terminal: each job's progress lines carry its label; the sweep ends with where it went
    sweep = f"runs/multirun/{sweeps[0].name}"
    lines = res.stdout.splitlines()
    assert lines[0] == f"pgtrain: sweep directory {sweep}"
    assert any(line.startswith("job 0 seed=0: step ") for line in lines) and any(line.startswith("job 1 seed=1: step ") for line in lines)
    finals = [json.loads((sweeps[0] / j / "summary.json").read_text())["final_return"] for j in jobs]
    assert lines[-6:] == [
        f"pgtrain: sweep finished: 2 job(s) in {sweep}",
        "  (final return: each job's mean return of the last 100 training episodes)",
        f"  job 0 seed=0: final return {finals[0]:,.2f}, not solved",
        f"  job 1 seed=1: final return {finals[1]:,.2f}, not solved",
        f"  compare:  pgtrain-report {sweep}",
        f"  curves:   tensorboard --logdir {sweep}",
    ]


def test_reinforce_on_pendulum_runs(cli, tmp_path):
    res = cli("env=pendulum", "total_steps=2000", f"hydra.run.dir={tmp_path / 'r'}")
    assert res.returncode == 0, res.stderr
    summary = read_summary(tmp_path / "r")
    assert summary["env"] == "pendulum" and summary["episodes"] >= 8
    returns = [e.value for e in _events(tmp_path / "r").Scalars("train/episodic_return")]  # TensorBoard's own reader
    assert len(returns) == summary["episodes"]
    assert summary["final_return"] == pytest.approx(sum(returns[-100:]) / len(returns[-100:]))
    assert all(-16.3 * 200 <= r <= 0 for r in returns)  # Pendulum's cost is at most 16.27 per step over 200 steps


def test_only_integer_options_have_their_floats_rewritten():
    from pgtrain import cli as _  # noqa: F401  (registers the schemas)
    from pgtrain.messages import check_overrides

    given = ["-m", "+env.kwargs.x=1e3", "algo.lr=1e3", "total_steps=1e6", "seed=0,1e1", "algo.num_envs=2.5", "env.id=A1e3"]
    expected = ["-m", "+env.kwargs.x=1e3", "algo.lr=1e3", "total_steps=1000000", "seed=0,10", "algo.num_envs=2.5", "env.id=A1e3"]
    assert check_overrides(given) == expected


def test_on_a_terminal_the_bar_is_followed_by_where_the_run_went(tmp_path):
    import sys

    from pgtrain import spawn
    from tests.terminal import run_on_terminal, screen

    argv = [sys.executable, "-m", "pgtrain.cli", "total_steps=2000", "hydra.run.dir=r"]
    status, out = run_on_terminal(argv, cwd=tmp_path, env=spawn.child_env(None))
    assert status == 0, out[-2000:]
    lines = screen(out)
    summary = read_summary(tmp_path / "r")
    assert lines[0] == "pgtrain: run directory r"
    assert lines[1].startswith("100%|") and "2000/2000" in lines[1]  # the finished bar, on its own line
    assert lines[2].startswith(f"pgtrain: finished {summary['env_steps']:,} env steps, {summary['episodes']:,} episodes in ")
    assert lines[-3:] == ["  checkpoint: r/checkpoints/last.pt", "  curves:     tensorboard --logdir r", "  evaluate:   pgtrain-eval r"]
    assert len(lines) == 8
