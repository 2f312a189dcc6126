"""Sweeps from the shell: ``pgtrain -m`` with the basic, joblib, Ray and submitit launchers, the Optuna sweeper, and the
sweep report. Real subprocess runs with tiny budgets (1,000 env steps a job)."""

from __future__ import annotations

import importlib.util
import math
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from pgtrain import spawn
from pgtrain.report import bootstrap_ci, iqm
from tests.conftest import read_summary, run_cli
from tests.terminal import run_on_terminal, screen

TINY = ("total_steps=1000", "progress=false")
# a low bar so that some seeds reach it within the tiny budget and the steps-to-solve column has numbers
LOW_BAR = ("env.solve_threshold=22", "env.solve_window=10")


def _ok(proc: subprocess.CompletedProcess) -> None:
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


def _jobs(sweep: Path) -> dict[str, Path]:
    """Job directories of a sweep by name (Hydra's subdir: ``<job num>_<overrides>``)."""
    return {p.name: p for p in sweep.iterdir() if p.is_dir() and not p.name.startswith(".")}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ----------------------------------------------------------------------------------------------------------------------
# The basic launcher: the grid, reused by the report tests


@pytest.fixture(scope="module")
def grid(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``pgtrain -m algo=reinforce,a2c env=cartpole seed=0,1,2 algo.lr=1e-3,3e-3``: 12 jobs, 4 configs x 3 seeds."""
    tmp = tmp_path_factory.mktemp("grid")
    sweep = tmp / "sweep"
    proc = run_cli(
        "-m", "algo=reinforce,a2c", "env=cartpole", "seed=0,1,2", "algo.lr=1e-3,3e-3", *TINY, *LOW_BAR,
        f"hydra.sweep.dir={sweep}", cwd=tmp,
    )  # fmt: skip
    _ok(proc)
    return sweep


def test_grid_runs_every_job_in_a_directory_named_by_its_overrides(grid: Path) -> None:
    jobs = _jobs(grid)
    expected = set()
    num = 0
    for algo in ("reinforce", "a2c"):
        for seed in (0, 1, 2):
            for lr in ("0.001", "0.003"):
                # override_dirname sorts the overrides as strings; the job number keeps repeated overrides apart
                expected.add(
                    f"{num}_algo.lr={lr},algo={algo},env.solve_threshold=22,env.solve_window=10,env=cartpole,"
                    f"progress=False,seed={seed},total_steps=1000"
                )
                num += 1
    assert set(jobs) == expected
    for name, job in jobs.items():
        summary = read_summary(job)
        cfg = OmegaConf.load(job / ".hydra" / "config.yaml")
        assert f"algo={summary['algo']}," in name and f"seed={summary['seed']}," in name
        assert f"algo.lr={cfg.algo.lr}," in name
        assert summary["env_steps"] >= 1000 and summary["episodes"] > 0
        assert math.isfinite(summary["final_return"])
        assert list(job.glob("events.out.tfevents.*"))
    assert (grid / "multirun.yaml").is_file()


# ----------------------------------------------------------------------------------------------------------------------
# Parallel and distributed launchers


def test_joblib_launcher_runs_jobs_in_worker_processes_each_in_its_own_directory(tmp_path: Path) -> None:
    """Two jobs with identical overrides, run at the same time in joblib's workers, get two directories."""
    sweep = tmp_path / "sweep"
    args = ["-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "seed=0,0", *TINY, f"hydra.sweep.dir={sweep}"]
    with spawn.start(*args, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT) as proc:
        output, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, output[-3000:]
    assert "Joblib.Parallel(n_jobs=2" in output
    jobs = _jobs(sweep)
    assert set(jobs) == {"0_progress=False,seed=0,total_steps=1000", "1_progress=False,seed=0,total_steps=1000"}
    pids = set()
    for job in jobs.values():
        assert read_summary(job)["env_steps"] >= 1000
        assert OmegaConf.load(job / ".hydra" / "config.yaml").device.torch_threads == 1  # 2 jobs x 1 thread on 2 cores
        (event,) = job.glob("events.out.tfevents.*")
        pids.add(int(re.search(r"\.(\d+)\.\d+$", event.name).group(1)))  # events.out.tfevents.<time>.<host>.<pid>.<n>
    assert proc.pid not in pids  # the jobs ran in joblib's worker processes, not in pgtrain's own


def test_joblib_sweep_on_a_terminal_draws_one_labelled_line_per_job(tmp_path: Path) -> None:
    """On a real pseudo-terminal, two jobs running at once in joblib's workers each keep their own labelled line (never
    one line overwritten by both); when the sweep ends the bars are gone and the sweep's directory, each job's final
    return and the pgtrain-report command are left on screen."""
    args = ["-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "seed=0,1", "total_steps=20000", "hydra.sweep.dir=sweep"]
    status, out = run_on_terminal([sys.executable, "-m", "pgtrain.cli", *args], cwd=tmp_path, env=spawn.child_env(None))
    assert status == 0, out[-3000:]
    labels = ("job 0 seed=0: ", "job 1 seed=1: ")
    for label in labels:
        assert out.count(label.encode()) > 2, f"no progress bar for {label!r}"
    both_at_once = False
    moments = [m.start() for m in re.finditer(rb"\r", out)]  # each redraw of a line starts with a carriage return
    for end in moments[:: max(1, len(moments) // 300)]:  # the screen as it stood at many moments of the sweep
        lines = screen(out[:end])
        for line in (line for line in lines if "%|" in line):  # the progress bars
            assert sum(label in line for label in labels) == 1, line  # one job's bar never lands on another's
            assert line.startswith(labels), line  # each bar alone on its line, its label first
        both_at_once |= all(any(line.startswith(label) for line in lines) for label in labels)
    assert both_at_once, "the two jobs' bars were never on screen together"
    final = screen(out)
    assert not any("%|" in line for line in final), final  # the bars are cleared when their jobs end
    tail = final[final.index("pgtrain: sweep finished: 2 job(s) in sweep") :]
    finals = {n: read_summary(tmp_path / "sweep" / f"{n}_seed={n},total_steps=20000")["final_return"] for n in (0, 1)}
    assert tail[2:] == [
        f"  job 0 seed=0: final return {finals[0]:,.2f}, not solved",
        f"  job 1 seed=1: final return {finals[1]:,.2f}, not solved",
        "  compare:  pgtrain-report sweep",
        "  curves:   tensorboard --logdir sweep",
    ]
    assert final[0] == "pgtrain: sweep directory sweep"


def test_submitit_local_executor(tmp_path: Path, cli) -> None:
    sweep = tmp_path / "sweep"
    _ok(cli("-m", "hydra/launcher=submitit_local", "seed=0,1", *TINY, f"hydra.sweep.dir={sweep}"))
    jobs = _jobs(sweep)
    assert set(jobs) == {"0_progress=False,seed=0,total_steps=1000", "1_progress=False,seed=1,total_steps=1000"}
    assert [read_summary(jobs[n])["seed"] for n in sorted(jobs)] == [0, 1]
    assert list((sweep / ".submitit").glob("*/*_result.pkl"))  # the jobs went through submitit


def test_slurm_preset_asks_one_core_per_torch_thread(tmp_path: Path, cli) -> None:
    # no SLURM here: check what would go to sbatch, as composed and resolved
    overrides = ("hydra/launcher=slurm", "device.torch_threads=2", "hydra.launcher.partition=cpu")
    proc = cli(*overrides, "--cfg", "all", "--package", "hydra.launcher", "--resolve")
    _ok(proc)
    launcher = OmegaConf.create(proc.stdout)
    assert launcher._target_.endswith("submitit_launcher.SlurmLauncher")
    assert launcher.cpus_per_task == 2 and launcher.partition == "cpu" and launcher.name == "pgtrain-reinforce-cartpole"


def test_ray_launcher_joins_a_local_cluster(tmp_path: Path, cli) -> None:
    # scripts/install.sh installs Ray (requirements.lock): without it this fails on the import, never skips
    assert importlib.util.find_spec("ray") is not None, "ray missing: scripts/install.sh installs it (pip install 'pgtrain[sweep]')"
    ray = str(Path(sys.executable).parent / "ray")
    # Ray keeps to loopback only with this set, in the test and in every Ray process it starts (FACTS.md)
    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}
    env.pop("RAY_ADDRESS", None)
    port = _free_port()
    sweep = tmp_path / "sweep"
    try:
        start = subprocess.run(
            [ray, "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}", "--include-dashboard=false",
             "--disable-usage-stats", "--num-cpus=2"],
            capture_output=True, text=True, timeout=120, env=env,
        )  # fmt: skip
        assert start.returncode == 0, start.stdout[-2000:] + start.stderr[-2000:]
        proc = cli(
            "-m", "hydra/launcher=ray_cluster", f"hydra.launcher.ray.init.address=127.0.0.1:{port}", "seed=0,1", *TINY,
            f"hydra.sweep.dir={sweep}", env={k: env[k] for k in ("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "RAY_USAGE_STATS_ENABLED")},
        )  # fmt: skip
        _ok(proc)
        assert f"Connecting to existing Ray cluster at address: 127.0.0.1:{port}" in proc.stdout + proc.stderr
        jobs = _jobs(sweep)
        assert set(jobs) == {"0_progress=False,seed=0,total_steps=1000", "1_progress=False,seed=1,total_steps=1000"}
        assert [read_summary(jobs[n])["seed"] for n in sorted(jobs)] == [0, 1]
    finally:
        subprocess.run([ray, "stop", "--force"], capture_output=True, timeout=120, env=env)


# ----------------------------------------------------------------------------------------------------------------------
# Optuna


def test_optuna_sweeper_maximises_final_return(tmp_path: Path, cli) -> None:
    sweep = tmp_path / "sweep"
    proc = cli("-m", "--config-name", "optuna_cartpole", "hydra.sweeper.n_trials=3", *TINY, f"hydra.sweep.dir={sweep}")
    _ok(proc)
    results = OmegaConf.load(sweep / "optimization_results.yaml")
    jobs = _jobs(sweep)
    assert len(jobs) == 3
    finals = {}
    for job in jobs.values():
        cfg = OmegaConf.load(job / ".hydra" / "config.yaml")
        assert 1e-4 <= cfg.algo.lr <= 3e-2 and 0.9 <= cfg.algo.gamma <= 0.999
        finals[(cfg.algo.lr, cfg.algo.gamma)] = read_summary(job)["final_return"]
    best = max(finals, key=finals.get)
    # the value Optuna maximised is the final_return the task function returned for the best trial
    assert results.best_value == pytest.approx(finals[best])
    assert (results.best_params["algo.lr"], results.best_params["algo.gamma"]) == pytest.approx(best)


def test_optuna_sweep_survives_runs_without_a_finished_episode(tmp_path: Path, cli) -> None:
    # 160 steps of Pendulum over 16 envs (200-step episodes) finish no episode: the task function returns -inf, the
    # worst value, where NaN would make hydra-optuna-sweeper crash the sweep (160: one 16 x 8 rollout fits the budget)
    sweep = tmp_path / "sweep"
    args = ("algo=a2c", "env=pendulum", "total_steps=160", "progress=false", "hydra.sweeper.n_trials=2")
    _ok(cli("-m", "--config-name", "optuna_cartpole", *args, f"hydra.sweep.dir={sweep}"))
    assert all(read_summary(job)["final_return"] is None for job in _jobs(sweep).values())
    assert OmegaConf.load(sweep / "optimization_results.yaml").best_value == -math.inf


# ----------------------------------------------------------------------------------------------------------------------
# The report


def test_iqm_and_bootstrap_by_hand() -> None:
    assert iqm(np.array([100.0, 1, 2, 3, 4])) == 3.0  # floor(5/4) = 1 cut off each end: mean(2, 3, 4)
    assert iqm(np.array([1.0, 2, 3, 4, 5, 6, 7, 100])) == 4.5  # 2 cut off each end
    assert iqm(np.array([5.0, 1.0])) == 3.0
    assert math.isnan(iqm(np.array([])))
    # resampling [1, 2, 3, 4]: 4^4 = 256 equally likely draws; the sum of a draw is 4 in 1 of them, 5 in 4, 6 in 10, so
    # 5/256 = 2.0% of the means lie below 1.5 and 15/256 = 5.9% at or below it: the 2.5% point is 1.5, and 3.5 mirrors it
    low, high = bootstrap_ci(np.array([1.0, 2.0, 3.0, 4.0]))
    assert (low, high) == (1.5, 3.5)
    # three values: the draw of the smallest three times has probability 1/27 = 3.7% > 2.5% (the largest alike), so the
    # 95% interval spans the values
    assert bootstrap_ci(np.array([10.0, 31.5, 200.25])) == (10.0, 200.25)
    assert (low, high) == bootstrap_ci(np.array([1.0, 2.0, 3.0, 4.0]))  # fixed RNG seed: reproducible
    assert bootstrap_ci(np.array([7.0, 7.0, 7.0])) == (7.0, 7.0)
    assert all(math.isnan(v) for v in bootstrap_ci(np.array([1.0])))


def _table(md: str) -> list[list[str]]:
    """The rows of the first table whose header starts with ``| rank |``."""
    lines = md.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| rank |"))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip("|").split("|")])
    return rows


def test_report_on_the_grid_agrees_with_the_summaries(grid: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    proc = run_cli(str(grid), "--out", str(out), cwd=tmp_path, module="pgtrain.report")
    _ok(proc)
    md = (out / "report.md").read_text()
    png = (out / "report.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    assert "![cartpole curves](report.png)" in md

    # the expected rows, straight from the summaries
    expected: dict[tuple[str, float], list[dict]] = {}
    for job in _jobs(grid).values():
        cfg = OmegaConf.load(job / ".hydra" / "config.yaml")
        expected.setdefault((cfg.algo.name, cfg.algo.lr), []).append(read_summary(job))

    rows = _table(md)
    assert len(rows) == 4
    assert [r[0] for r in rows] == ["1", "2", "3", "4"]
    means = []
    for _rank, label, seeds, mean, ci, iqm_text, solved, steps in rows:
        m = re.fullmatch(r"`(\w+)-cartpole algo.lr=([\d.]+)`", label)
        assert m, label
        summaries = expected.pop((m.group(1), float(m.group(2))))
        finals = np.array([s["final_return"] for s in summaries])
        assert seeds == "3"
        assert float(mean) == pytest.approx(finals.mean(), abs=0.051)
        assert float(iqm_text) == pytest.approx(finals.mean(), abs=0.051)  # 3 seeds: nothing to trim
        low, high = (float(v) for v in ci.strip("[]").split(","))
        # three seeds: each value drawn three times has probability 1/27 = 3.7% > 2.5%, so the 95% interval is [min, max]
        assert (low, high) == pytest.approx((finals.min(), finals.max()), abs=0.051)
        assert finals.min() - 0.051 <= low <= float(mean) <= high <= finals.max() + 0.051
        solved_steps = [s["solved"]["env_steps"] for s in summaries if s["solved"]]
        assert solved == f"{len(solved_steps)}/3"
        assert steps == (f"{np.median(solved_steps):,.0f}" if solved_steps else "–")
        means.append(float(mean))
    assert not expected
    assert means == sorted(means, reverse=True)  # best first
    assert f"**Best: {rows[0][1]}**" in md
    assert md.count(".hydra") == 0 and md.count("| `") >= 12 + 4  # one line per run in the details
    assert "reached 22" in md  # the threshold the runs were given
    assert "(all with `env.solve_threshold=22` `env.solve_window=10`)" in md  # shared overrides: said once, not per row
    assert any(s != "–" for *_, s in rows), "no seed reached the low bar: the steps-to-solve column went untested"


def test_report_default_output_and_bad_input(grid: Path, tmp_path: Path) -> None:
    copy = tmp_path / "sweep"
    # a sweep with one unfinished job: the report says so rather than failing
    subprocess.run(["cp", "-r", str(grid), str(copy)], check=True)
    (copy / "report.md").unlink(missing_ok=True)
    unfinished = next(p for p in _jobs(copy).values() if "algo=a2c" in p.name and "seed=2" in p.name)
    (unfinished / "summary.json").unlink()
    proc = run_cli(str(copy), cwd=tmp_path, module="pgtrain.report")
    _ok(proc)
    assert "Best:" in proc.stdout
    md = (copy / "report.md").read_text()
    assert (copy / "report.png").is_file()
    assert "| 2 of 3 |" in md and "not finished" in md

    missing = tmp_path / "missing"
    proc = run_cli(str(missing), cwd=tmp_path, module="pgtrain.report")
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [f"pgtrain-report: error: {missing}: no such directory"]
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = run_cli(str(empty), cwd=tmp_path, module="pgtrain.report")
    assert proc.returncode == 2 and proc.stderr.startswith("pgtrain-report: error:") and "Traceback" not in proc.stderr
