"""Operating runs on real short CartPole runs: resume, pgtrain-eval (eval.json, MP4s), videos during training, pgtrain-plot."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import imageio_ffmpeg
import matplotlib.image
import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from pgtrain import checkpoint, evaluation, plotting
from pgtrain.config import RUN_CONTROL_KEYS
from pgtrain.configstore import typed_config
from pgtrain.curves import load_curve
from tests.conftest import read_summary, run_cli

FIRST_STEPS = 2000
# num_envs=1: every episode ends at its own env step, so a curve's steps must strictly increase
BASE = ("algo=reinforce", "env=cartpole", "algo.num_envs=1", "checkpoint_interval=1000", "video_interval=1000", "seed=0")


def _files(run: Path) -> dict[Path, tuple[bytes, int]]:
    return {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in run.rglob("*") if p.is_file()}


def _assert_one_line_error(res, prog: str, *words: str) -> None:
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert res.stderr.startswith(f"{prog}: error: ") and res.stderr.count("\n") == 1, res.stderr
    assert "Traceback" not in res.stderr
    for word in words:
        assert word in res.stderr, res.stderr


def _strictly_increasing(steps: np.ndarray) -> bool:
    return bool(np.all(np.diff(steps) > 0))


@pytest.fixture(scope="module")
def first(tmp_path_factory) -> Path:
    """A finished 2,000-step run, never modified: tests copy it."""
    root = tmp_path_factory.mktemp("first")
    res = run_cli(*BASE, f"total_steps={FIRST_STEPS}", f"hydra.run.dir={root / 'run'}", cwd=root)
    assert res.returncode == 0, res.stderr
    return root / "run"


def _copy(run: Path, tmp_path: Path, name: str = "run") -> Path:
    dest = tmp_path / name
    shutil.copytree(run, dest)
    return dest


@pytest.fixture(scope="module")
def resumed(first, tmp_path_factory) -> tuple[Path, dict, dict]:
    """``first`` resumed to 4,000 steps with evaluations switched on; returns (run, checkpoint before, summary before)."""
    run = _copy(first, tmp_path_factory.mktemp("resumed"))
    before = checkpoint.load(run / "checkpoints" / "last.pt")
    summary_before = read_summary(run)
    res = run_cli(f"resume={run}", "total_steps=4000", "eval_interval=1000", "eval_episodes=2", "video_interval=0", cwd=run.parent)
    assert res.returncode == 0, res.stderr
    return run, before, summary_before


# ----------------------------------------------------------------------------------------------------------------------
# Resume


def test_resume_advances_checkpoint_and_summary(resumed):
    run, before, summary_before = resumed
    after = checkpoint.load(run / "checkpoints" / "last.pt")
    c0, c1 = before["counters"], after["counters"]
    assert c0["env_steps"] >= FIRST_STEPS and c1["env_steps"] >= 4000
    assert c1["episodes"] > c0["episodes"] and c1["wall_time_s"] > c0["wall_time_s"]
    assert after["algo_state"]["updates"] > before["algo_state"]["updates"]
    assert after["config"]["total_steps"] == 4000 and after["config"]["seed"] == 0
    summary = read_summary(run)
    assert summary["env_steps"] == c1["env_steps"] and summary["episodes"] == c1["episodes"]
    assert summary["updates"] == after["algo_state"]["updates"] and summary["wall_time_s"] > summary_before["wall_time_s"]
    # periodic checkpoints went on from where the first process stopped
    steps = sorted(int(p.stem.split("_")[1]) for p in (run / "checkpoints").glob("step_*.pt"))
    assert steps[0] < FIRST_STEPS + 1000 and steps[-1] >= 3000


def test_each_resume_records_its_config_beside_the_first(resumed, tmp_path):
    """.hydra/config.yaml keeps the run's first config; each resume adds .hydra/resume_<k>.yaml with the one it ran."""
    run = _copy(resumed[0], tmp_path)
    first_cfg = OmegaConf.load(run / ".hydra" / "config.yaml")
    one = OmegaConf.load(run / ".hydra" / "resume_1.yaml")
    assert first_cfg.total_steps == FIRST_STEPS and first_cfg.eval_interval == 0
    assert (one.total_steps, one.eval_interval, one.eval_episodes) == (4000, 1000, 2)
    assert {k: v for k, v in one.items() if k not in RUN_CONTROL_KEYS} == {k: v for k, v in first_cfg.items() if k not in RUN_CONTROL_KEYS}
    assert (run / ".hydra" / "resume_1.yaml").read_text().startswith(f"# pgtrain resume={resumed[0]} total_steps=4000 eval_interval=1000")
    res = run_cli(f"resume={run}", "total_steps=5000", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert OmegaConf.load(run / ".hydra" / "resume_2.yaml").total_steps == 5000
    assert OmegaConf.load(run / ".hydra" / "config.yaml") == first_cfg


def test_resumed_curves_have_no_duplicates_and_no_gaps(first, resumed):
    run, before, _ = resumed
    split = before["counters"]["env_steps"]
    summary = read_summary(run)
    assert len(list(run.glob("events.out.tfevents.*"))) == 2  # one file per process, read as one curve
    ret = load_curve(run, "train/episodic_return")
    assert _strictly_increasing(ret.steps)
    assert len(ret.steps) == summary["episodes"]  # every counted episode once: none lost, none twice
    assert (ret.steps <= split).sum() == before["counters"]["episodes"]
    assert ret.steps[-1] <= summary["env_steps"]
    loss = load_curve(run, "loss/policy")
    assert _strictly_increasing(loss.steps)
    # every point the first process logged (up to its checkpoint step) is kept, and the resumed one went on from there;
    # a run's last update may come before its last env step (the budget ends collection mid-batch: no update on it)
    first_loss = load_curve(first, "loss/policy")
    assert set(first_loss.steps) <= set(loss.steps) and first_loss.steps[-1] <= split
    assert split < loss.steps[-1] <= summary["env_steps"]
    # evaluations switched on at resume run from there on, on the new schedule
    evals = load_curve(run, "eval/mean_return")
    assert len(evals.steps) >= 2 and evals.steps[0] > split and _strictly_increasing(evals.steps)


def test_resume_after_a_crash_drops_the_events_logged_after_the_checkpoint(first, tmp_path):
    """A process that died after its periodic checkpoint at ~1,000 steps but logged up to 2,000: resuming from that
    checkpoint replaces the lost stretch, with no step logged twice."""
    run = _copy(first, tmp_path)
    periodic = min((run / "checkpoints").glob("step_*.pt"), key=lambda p: int(p.stem.split("_")[1]))
    shutil.copy(periodic, run / "checkpoints" / "last.pt")
    state = checkpoint.load(periodic)
    res = run_cli(f"resume={run}", "video_interval=0", cwd=tmp_path)  # the run's own total_steps: 2,000
    assert res.returncode == 0, res.stderr
    summary = read_summary(run)
    assert summary["env_steps"] >= FIRST_STEPS
    ret = load_curve(run, "train/episodic_return")
    assert _strictly_increasing(ret.steps) and len(ret.steps) == summary["episodes"]
    assert (ret.steps <= state["counters"]["env_steps"]).sum() == state["counters"]["episodes"]


def test_resume_restores_counters_and_rng_states(first, tmp_path):
    from pgtrain.workspace import Workspace

    run = _copy(first, tmp_path)
    state = checkpoint.load(run / "checkpoints" / "last.pt")
    ws = Workspace(typed_config(state["config"]), run, resume=True)
    try:
        c = state["counters"]
        assert ws.collector.env_steps == c["env_steps"] and ws.episodes == c["episodes"]
        assert ws.algo.updates == state["algo_state"]["updates"] and list(ws.returns) == c["returns"]
        assert ws.wall_offset == c["wall_time_s"]
        assert torch.equal(torch.get_rng_state(), state["rng"]["torch"])
        assert np.random.get_state()[1].tolist() == state["rng"]["numpy"]
        assert random.getstate()[1] == tuple(state["rng"]["python"][1])
        for name, tensor in state["algo_state"]["policy"].items():
            assert torch.equal(ws.algo.policy.state_dict()[name], tensor)
        assert ws.checkpoint_due.next == 3000 and ws.video_due.next == 3000  # the first multiples of the intervals after ~2,000
    finally:
        ws.logger.close()
        ws.collector.close()


def test_schedules_fall_due_at_each_multiple_of_their_interval():
    from pgtrain.schedules import Every

    due = Every(1000)
    assert [step for step in (999, 1000, 1500, 2003, 2500, 3000) if due(step)] == [1000, 2003, 3000]
    assert Every(1000, step=2000).next == 3000 and Every(1000, step=2999).next == 3000
    assert not Every(0)(10**12)  # interval 0: never


def test_resuming_a_finished_run_is_one_line_and_changes_nothing(first, tmp_path):
    run = _copy(first, tmp_path)
    before = _files(run)
    res = run_cli(f"resume={run}", cwd=tmp_path)
    _assert_one_line_error(res, "pgtrain", "already finished", "total_steps=")
    assert _files(run) == before


# ----------------------------------------------------------------------------------------------------------------------
# Videos during training


def test_training_records_videos_as_mp4_and_tensorboard_gifs(first):
    videos = sorted((first / "videos").glob("train_step_*.mp4"))
    assert len(videos) == 2  # video_interval=1000 over 2,000 steps
    acc = EventAccumulator(str(first), size_guidance={"images": 0})
    acc.Reload()
    images = acc.Images("eval/video")
    assert len(images) == 2 and all(im.encoded_image_string.startswith(b"GIF8") for im in images)
    assert (images[0].width, images[0].height) == (300, 200)  # CartPole's 600x400 screen, halved


# ----------------------------------------------------------------------------------------------------------------------
# pgtrain-eval


def _eval(*args: str, cwd: Path):
    return run_cli(*args, cwd=cwd, module="pgtrain.evaluation")


def _last_eval(run: Path) -> dict:
    """The newest record of eval.json (one per evaluation, in order)."""
    return json.loads((run / "eval.json").read_text())["evaluations"][-1]


def _decode(path: Path) -> tuple[tuple[int, int], list[np.ndarray]]:
    gen = imageio_ffmpeg.read_frames(str(path))
    meta = next(gen)
    w, h = meta["size"]
    return (w, h), [np.frombuffer(b, dtype=np.uint8).reshape(h, w, 3) for b in gen]


def _replay_cartpole(ckpt: Path, seeds: list[int]) -> list[float]:
    """The checkpoint's REINFORCE policy (4-64-64-2 tanh MLP) played greedily in gymnasium's own CartPole-v1, one
    episode from each ``reset(seed=...)``, written out here apart from pgtrain's networks and envs."""
    import gymnasium as gym

    w = torch.load(ckpt, weights_only=True)["algo_state"]["policy"]

    def act(obs: np.ndarray) -> int:
        h = torch.tanh(w["torso.1.0.weight"] @ torch.as_tensor(obs, dtype=torch.float32) + w["torso.1.0.bias"])
        h = torch.tanh(w["torso.1.2.weight"] @ h + w["torso.1.2.bias"])
        return int(torch.argmax(w["head.weight"] @ h + w["head.bias"]))

    env = gym.make("CartPole-v1")
    returns = []
    for seed in seeds:
        obs, _ = env.reset(seed=seed)
        total, done = 0.0, False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(act(obs))
            total, done = total + float(reward), terminated or truncated
        returns.append(total)
    env.close()
    return returns


def test_eval_writes_eval_json_and_videos_that_decode(first, tmp_path):
    run = _copy(first, tmp_path)
    res = _eval(str(run), "--episodes", "3", "--seed", "7", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    report = _last_eval(run)
    assert report["checkpoint"] == str((run / "checkpoints" / "last.pt").resolve())
    assert report["checkpoint_env_steps"] == read_summary(run)["env_steps"]
    assert report["episodes"] == 3 and report["deterministic"] is True and report["seed"] == 7
    assert report["returns"] == _replay_cartpole(run / "checkpoints" / "last.pt", seeds=[7, 8, 9])
    assert report["mean"] == pytest.approx(np.mean(report["returns"])) and report["std"] == pytest.approx(np.std(report["returns"]))
    assert report["lengths"] == [int(r) for r in report["returns"]]  # CartPole: +1 a step
    assert f"{report['mean']:.2f} ± {report['std']:.2f}" in res.stdout and report["videos"] == []

    res = _eval(str(run), "--episodes", "2", "--seed", "7", "--video", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    video_report = _last_eval(run)
    assert json.loads((run / "eval.json").read_text())["evaluations"][0] == report  # appended: the first one is kept
    assert video_report["returns"] == report["returns"][:2]  # same seeds, same deterministic episodes
    assert len(video_report["videos"]) == 2
    for rel, length in zip(video_report["videos"], video_report["lengths"], strict=True):
        path = run / rel
        assert path.parent == run / "videos" and path.suffix == ".mp4" and path.stat().st_size > 0
        size, frames = _decode(path)
        assert size == (600, 400) and len(frames) == length + 1  # the reset frame, then one per step
        assert frames[0].std() > 0 and not np.array_equal(frames[0], frames[-1])  # a picture, and it moves
    assert not list((run / "videos").glob(".*"))  # no temporary files left


def test_eval_stochastic_with_another_checkpoint(first, tmp_path):
    run = _copy(first, tmp_path)
    ckpt = min((run / "checkpoints").glob("step_*.pt"), key=lambda p: int(p.stem.split("_")[1]))
    res = _eval(str(run), "--checkpoint", str(ckpt), "--episodes", "2", "--stochastic", "--device", "cpu", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    report = _last_eval(run)
    assert report["checkpoint"] == str(ckpt.resolve()) and report["checkpoint_env_steps"] == int(ckpt.stem.split("_")[1])
    assert report["deterministic"] is False and report["device"] == "cpu" and len(report["returns"]) == 2
    assert "stochastic" in res.stdout


def test_eval_errors_are_one_line(first, tmp_path, capsys):
    res = _eval(str(tmp_path / "missing"), cwd=tmp_path)
    _assert_one_line_error(res, "pgtrain-eval", "no such directory")

    def in_process(*args: str) -> str:
        with pytest.raises(SystemExit) as ex:
            evaluation.main(list(args))
        assert ex.value.code == 2
        err = capsys.readouterr().err
        assert err.startswith("pgtrain-eval: error: ") and err.count("\n") == 1, err
        return err

    (tmp_path / "empty").mkdir()
    assert "not a pgtrain run directory" in in_process(str(tmp_path / "empty"))
    run = _copy(first, tmp_path)
    assert "does not exist" in in_process(str(run), "--checkpoint", str(run / "checkpoints" / "nope.pt"))
    last = run / "checkpoints" / "last.pt"
    last.write_bytes(last.read_bytes()[:1000])  # truncated
    assert "not a readable pgtrain checkpoint" in in_process(str(run))
    assert "at least one episode" in in_process(str(run), "--episodes", "0")
    assert not (run / "eval.json").exists()


def test_eval_plays_under_env_overrides_and_records_them(first, tmp_path, capsys):
    """env.KEY=VALUE after RUN_DIR changes the env the policy plays in (here CartPole's time limit: every episode is
    cut at 20 steps); the record names the overrides, the whole env config, the seeds and each return; an earlier
    record stays. A bad key or value: one line naming it, exit 2, eval.json untouched."""
    run = _copy(first, tmp_path)
    res = _eval(str(run), "--episodes", "2", "--seed", "5", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    res = _eval(str(run), "env.max_episode_steps=20", "--episodes", "3", "--seed", "5", "--sample", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    first_record, report = json.loads((run / "eval.json").read_text())["evaluations"]
    assert first_record["env_overrides"] == [] and first_record["env_config"]["max_episode_steps"] is None
    assert first_record["seeds"] == [5, 6] and first_record["actions"] == "argmax"
    assert max(first_record["lengths"]) > 20  # the trained policy balances longer than the override allows
    assert report["env_overrides"] == ["env.max_episode_steps=20"] and report["env_config"]["max_episode_steps"] == 20
    assert report["env_config"]["id"] == "CartPole-v1" and report["seeds"] == [5, 6, 7]
    assert report["actions"] == "sampled" and report["deterministic"] is False
    assert report["lengths"] == [20, 20, 20] and report["returns"] == [20.0, 20.0, 20.0]
    before = (run / "eval.json").read_text()

    def refused(*args: str) -> str:
        with pytest.raises(SystemExit) as ex:
            evaluation.main([str(run), *args])
        assert ex.value.code == 2
        err = capsys.readouterr().err
        assert err.startswith("pgtrain-eval: error: ") and err.count("\n") == 1, err
        return err

    assert refused("env.no_such_key=1").startswith("pgtrain-eval: error: env.no_such_key: no such setting")
    assert refused("env.max_episode_steps=abc").startswith("pgtrain-eval: error: env.max_episode_steps: ")
    assert refused("env.max_episode_steps=0").startswith("pgtrain-eval: error: env.max_episode_steps=0 is out of range")
    assert refused("algo.lr=1").startswith("pgtrain-eval: error: algo.lr=1: only env settings")
    assert refused("env.id=Pendulum-v1").startswith("pgtrain-eval: error: env.id: ")
    assert (run / "eval.json").read_text() == before


# ----------------------------------------------------------------------------------------------------------------------
# pgtrain-plot


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> Path:
    """Two configs (learning rates) x two seeds, as `pgtrain -m` writes them."""
    root = tmp_path_factory.mktemp("sweep")
    res = run_cli("-m", "seed=0,1", "algo.lr=0.001,0.003", "total_steps=1500", f"hydra.sweep.dir={root / 'sweep'}", cwd=root)
    assert res.returncode == 0, res.stderr
    return root / "sweep"


def test_plot_writes_a_png_from_real_event_files(sweep, resumed, tmp_path):
    run, _, _ = resumed
    out = tmp_path / "plots" / "returns.png"
    res = run_cli(str(sweep), str(run), "--out", str(out), "--window", "10", cwd=tmp_path, module="pgtrain.plotting")
    assert res.returncode == 0, res.stderr
    assert out.stat().st_size > 0 and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = matplotlib.image.imread(out)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100 and image.std() > 0
    lines = [line for line in res.stdout.splitlines() if "run(s)" in line]
    assert len(lines) == 3  # two learning rates, and the resumed run on its own
    assert sum("algo.lr=0.001: 2 run(s)" in line for line in lines) == 1
    assert sum("algo.lr=0.003: 2 run(s)" in line for line in lines) == 1


def test_plot_groups_by_config_and_averages_over_seeds(sweep):
    groups = plotting.group_runs(plotting.find_runs([sweep]))
    assert sorted(len(g.runs) for g in groups) == [2, 2]
    for group in groups:
        seeds = {json.dumps(plotting.run_config(r)["seed"]) for r in group.runs}
        assert seeds == {"0", "1"}
        band = plotting.aggregate(group.runs, plotting.RETURN_TAG, window=10, points=50)
        assert band is not None and band.runs == 2 and band.steps.shape == (50,)
        # by hand, from the event files read with TensorBoard's own reader: each run's trailing mean of up to 10
        # returns, linearly interpolated on the grid over the env steps both runs cover; mean, min and max across runs
        curves = []
        for r in group.runs:
            acc = EventAccumulator(str(r), size_guidance={"scalars": 0})
            acc.Reload()
            events = acc.Scalars(plotting.RETURN_TAG)
            steps = np.array([e.step for e in events], dtype=np.float64)
            values = [e.value for e in events]
            trailing = np.array([np.mean(values[max(0, i - 9) : i + 1]) for i in range(len(values))])
            curves.append((steps, trailing))
        grid = np.linspace(max(x[0] for x, _ in curves), min(x[-1] for x, _ in curves), 50)
        ys = np.array([[np.interp(g, x, y) for g in grid] for x, y in curves])
        np.testing.assert_allclose(band.steps, grid)
        np.testing.assert_allclose(band.mean, ys.mean(axis=0), rtol=1e-6)
        np.testing.assert_allclose(band.low, ys.min(axis=0), rtol=1e-6)
        np.testing.assert_allclose(band.high, ys.max(axis=0), rtol=1e-6)
        assert np.any(band.high > band.low)  # the seeds differ: the band has a width to check


def test_plot_and_report_give_one_final_return_and_write_beside_the_sweep(sweep, tmp_path):
    """Both name the statistic, agree on each config's figure, and that figure is the mean over seeds of each run's
    mean return of its last 100 training episodes, computed here from the event files."""
    plot = run_cli(str(sweep), cwd=tmp_path, module="pgtrain.plotting")
    assert plot.returncode == 0, plot.stderr
    report = run_cli(str(sweep), cwd=tmp_path, module="pgtrain.report")
    assert report.returncode == 0, report.stderr
    assert list(tmp_path.iterdir()) == []  # nothing in the working directory: both wrote beside the sweep
    assert plot.stdout.splitlines()[-1] == f"wrote {sweep / 'returns.png'}" and (sweep / "returns.png").stat().st_size > 0
    assert f"wrote {sweep / 'report.md'}, {sweep / 'report.png'}" in report.stdout
    words = "final return = mean return of the last 100 training episodes, mean over a config's"
    assert plot.stdout.startswith(words) and report.stdout.startswith(words)

    by_hand = {}
    for group in plotting.group_runs(plotting.find_runs([sweep])):
        lr = plotting.run_config(group.runs[0])["algo.lr"]
        by_hand[lr] = np.mean([load_curve(r).values[-100:].mean() for r in group.runs])
    md = (sweep / "report.md").read_text()
    assert "| final return (last 100 episodes, mean over seeds) |" in md
    for lr, expected in by_hand.items():
        (plotted,) = [line for line in plot.stdout.splitlines() if f"algo.lr={lr}: 2 run(s)" in line]
        assert float(plotted.split("final return ")[1].split(";")[0]) == pytest.approx(expected, abs=0.006)
        (row,) = [line for line in md.splitlines() if line.startswith("| ") and f"algo.lr={lr}`" in line and "| 2 |" in line]
        assert float(row.split("|")[4]) == pytest.approx(expected, abs=0.051)


def test_plot_errors_are_one_line(tmp_path):
    res = run_cli(str(tmp_path), cwd=tmp_path, module="pgtrain.plotting")
    _assert_one_line_error(res, "pgtrain-plot", "no TensorBoard event files")


def test_pong_video_shows_the_real_game_screen(tmp_path):
    """The network sees 80x80 difference frames; the video shows the 210x160 colour screen."""
    run = tmp_path / "pong"
    train = ("algo=reinforce", "env=pong", "algo.num_envs=1", "algo.episodes_per_update=1", "env.max_episode_steps=150")
    res = run_cli(*train, "total_steps=1", f"hydra.run.dir={run}", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    res = _eval(str(run), "--episodes", "1", "--video", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    report = _last_eval(run)
    assert report["lengths"] == [150]
    size, frames = _decode(run / report["videos"][0])
    assert size == (160, 210) and len(frames) == 151
    middle = frames[75][40:190].reshape(-1, 3).astype(int)
    colours, counts = np.unique(middle // 16, axis=0, return_counts=True)
    assert np.abs(colours[counts.argmax()] * 16 + 8 - np.array([144, 72, 17])).max() <= 16  # Pong's brown court
