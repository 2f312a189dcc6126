"""Pong learning benchmark: train ``pgtrain algo=reinforce env=pong`` for a wall-clock budget, then evaluate.

1. trains ``pgtrain algo=reinforce env=pong [overrides]`` (the default protocol: sticky actions 0.25) in RUN_DIR, an
   open step budget stopped by SIGINT ``--minutes`` after its training loop started (pgtrain saves ``last.pt``), or
   ``total_steps=N`` among the overrides (then it may finish sooner; PPO's ``anneal_lr`` decays over those N);
2. plays ``--episodes`` evaluation games of the final policy under the run's own protocol (sticky actions), with the
   policy's mode (argmax) and sampled, and the same in the deterministic game (``env.repeat_action_probability=0``),
   all through ``pgtrain-eval`` (records appended to RUN_DIR/eval.json);
3. reads the running score (mean of the last 100 training games) from the run's TensorBoard events, in minutes since
   the training loop started, and writes the result file (scripts/results.py's envelope with this benchmark's figures)
   to RUN_DIR/bench_learning.json and to ``--json`` (a file, or a folder for ``<task>_<date>.json``; default
   benchmarks/results/ for runs of 10 minutes or more, whose figures the benchmarks page can use), and the curve
   (``--png``, default RUN_DIR/curve.png, by scripts/pong_curve.py).

Targets on a 2-core machine (REINFORCE): last-100 mean >= 0 within 10 minutes, >= +15 within 30 minutes, and the
20-game sticky evaluation >= +15 at 30 minutes; (PPO) >= +18 within 60 minutes. The file says for each whether it was
met.

    python scripts/bench_pong_learning.py --minutes 30 --run-dir runs/bench-pong-30min
    python scripts/bench_pong_learning.py --minutes 30 --run-dir runs/bench-pong-decay -- \
        algo.lr_decay_steps=7000000 algo.lr_final_fraction=0.1
    python scripts/bench_pong_learning.py --algo ppo --minutes 60 --run-dir runs/bench-pong-ppo -- total_steps=3300000
    python scripts/bench_pong_learning.py --minutes 0.3 --episodes 1 -- algo.num_envs=2 env.max_episode_steps=100   # checks it runs
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

from pgtrain.tags import RETURN_TAG as TAG

sys.path.insert(0, str(Path(__file__).resolve().parent))
import results  # noqa: E402

WINDOW = 100
CHECKPOINT_EVERY_MIN = 5.0  # the running score is reported every 5 minutes of training
LEVELS = (0.0, 15.0, 18.0)


def pgtrain_args(algo: str, overrides: list[str], run_dir: Path) -> list[str]:
    """The training command's overrides: an open step budget unless the overrides set ``total_steps``."""
    budget = [] if any(o.startswith("total_steps=") for o in overrides) else ["total_steps=1000000000"]
    return [f"algo={algo}", "env=pong", *overrides, *budget, f"hydra.run.dir={run_dir}", "progress=false"]


def train(run_dir: Path, algo: str, overrides: list[str], minutes: float) -> tuple[float, dict]:
    """Run pgtrain until ``minutes`` after its training loop started (its TensorBoard file appears just before), then
    SIGINT it, or until it finishes a ``total_steps=N`` given among the overrides (which also sets the length of
    ``anneal_lr``'s schedule); returns (the loop's start as a Unix time, summary.json)."""
    args = pgtrain_args(algo, overrides, run_dir)
    proc = subprocess.Popen([sys.executable, "-m", "pgtrain.cli", *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    while proc.poll() is None and not list(run_dir.glob("events.out.tfevents.*")):
        time.sleep(0.1)
    start = time.time()
    deadline = time.monotonic() + 60.0 * minutes
    while proc.poll() is None and time.monotonic() < deadline:
        time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    _, err = proc.communicate()
    if proc.returncode not in (0, 128 + signal.SIGINT) or not (run_dir / "summary.json").is_file():
        raise SystemExit(f"pgtrain failed (exit {proc.returncode}): {err.strip()}")
    return start, json.loads((run_dir / "summary.json").read_text())


def evaluate(run_dir: Path, episodes: int, extra: list[str]) -> list[dict]:
    """``pgtrain-eval RUN_DIR [extra] --episodes N --both``: the argmax and the sampled records it appended."""
    cmd = [sys.executable, "-m", "pgtrain.evaluation", str(run_dir), *extra, "--episodes", str(episodes), "--both"]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(f"pgtrain-eval failed (exit {res.returncode}): {res.stderr.strip()}")
    return json.loads((run_dir / "eval.json").read_text())["evaluations"][-2:]


def score_curve(run_dir: Path, start: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(minutes since the loop started, env steps, running score) at each finished training game."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from pgtrain.curves import running_mean

    acc = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
    acc.Reload()
    if TAG not in acc.Tags().get("scalars", []):
        return np.zeros(0), np.zeros(0, dtype=np.int64), np.zeros(0)
    events = sorted(acc.Scalars(TAG), key=lambda e: (e.step, e.wall_time))
    minutes = (np.array([e.wall_time for e in events]) - start) / 60.0
    steps = np.array([e.step for e in events], dtype=np.int64)
    return minutes, steps, running_mean(np.array([e.value for e in events]), WINDOW)


def summarise_curve(minutes: np.ndarray, steps: np.ndarray, score: np.ndarray) -> dict:
    first = {}
    for level in LEVELS:
        hits = np.flatnonzero(score >= level)
        first[f"{level:+g}"] = (
            None if not len(hits) else {"minutes": float(minutes[hits[0]]), "env_steps": int(steps[hits[0]]), "game": int(hits[0]) + 1}
        )
    at = {}
    for m in np.arange(CHECKPOINT_EVERY_MIN, minutes[-1] + 1e-9 if len(minutes) else 0.0, CHECKPOINT_EVERY_MIN):
        before = np.flatnonzero(minutes <= m)
        if len(before) and minutes[-1] >= m:
            i = before[-1]
            at[f"{m:g}"] = {"running_score": float(score[i]), "env_steps": int(steps[i]), "games": int(i) + 1}
    final = {"running_score": float(score[-1]), "minutes": float(minutes[-1]), "games": len(score)} if len(score) else None
    return {"first_reached": first, "at_minutes": at, "final": final}


def record_summary(record: dict) -> dict:
    keys = ("actions", "env_overrides", "episodes", "mean", "std", "min", "max", "returns", "seeds")
    return {k: record[k] for k in keys} | {"repeat_action_probability": record["env_config"].get("repeat_action_probability")}


def targets(algo: str, curve: dict, sticky: list[dict]) -> dict:
    def reached_within(level: str, limit: float) -> bool:
        hit = curve["first_reached"][level]
        return hit is not None and hit["minutes"] <= limit

    if algo == "ppo":  # PPO with the CNN: last-100 mean >= 18 within 60 minutes on 2 cores
        return {"last100_ge_18_within_60_min": reached_within("+18", 60.0)}
    argmax = next(r for r in sticky if r["actions"] == "argmax")
    return {
        "last100_ge_0_within_10_min": reached_within("+0", 10.0),
        "last100_ge_15_within_30_min": reached_within("+15", 30.0),
        "sticky_eval_argmax_ge_15": argmax["mean"] >= 15.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--algo", default="reinforce", help="the algorithm (default reinforce; ppo: the CNN's target)")
    parser.add_argument("--minutes", type=float, default=30.0, help="wall-clock minutes of training (default 30)")
    parser.add_argument("--episodes", type=int, default=20, help="evaluation games per setting and action mode (default 20)")
    parser.add_argument("--run-dir", type=Path, default=None, help="the run directory (default runs/bench-pong-learning-<time>)")
    parser.add_argument("--json", type=Path, default=None,
                        help="a copy of the result file: a file or a folder (default benchmarks/results/ from 10 minutes on)")  # fmt: skip
    parser.add_argument("--png", type=Path, default=None, help="where the curve goes (default RUN_DIR/curve.png)")
    parser.add_argument("overrides", nargs="*", help="pgtrain overrides after --, e.g. algo.lr_decay_steps=7000000")
    args = parser.parse_args()
    run_dir = args.run_dir or Path("runs") / f"bench-pong-learning-{time.strftime('%Y%m%d-%H%M%S')}"
    if run_dir.exists():
        raise SystemExit(f"{run_dir} exists: choose a new --run-dir")
    logging.getLogger("tensorboard").setLevel(logging.ERROR)

    print(f"training pgtrain algo={args.algo} env=pong {' '.join(args.overrides)} for {args.minutes:g} min in {run_dir}", flush=True)
    start, summary = train(run_dir, args.algo, args.overrides, args.minutes)
    minutes, steps, score = score_curve(run_dir, start)
    curve = summarise_curve(minutes, steps, score)
    print(f"trained: {summary['env_steps']:,} env steps, {summary['episodes']} games; running score {curve['final']}", flush=True)
    sticky = evaluate(run_dir, args.episodes, [])
    deterministic = evaluate(run_dir, args.episodes, ["env.repeat_action_probability=0"])
    for record in (*sticky, *deterministic):
        rap = record["env_config"].get("repeat_action_probability")
        mean, std, n = record["mean"], record["std"], record["episodes"]
        print(f"eval sticky={rap} {record['actions']}: {mean:+.2f} ± {std:.2f} over {n} games", flush=True)
    seed = {
        "seed": summary["seed"], "minutes": args.minutes, "env_steps": summary["env_steps"], "episodes": summary["episodes"],
        "wall_time_s": summary["wall_time_s"], "steps_per_second": summary["steps_per_second"],
        "final_return": summary["final_return"], "solved": summary["solved"], **curve,
        "eval_sticky": [record_summary(r) for r in sticky], "eval_deterministic_game": [record_summary(r) for r in deterministic],
    }  # fmt: skip
    env = OmegaConf.load(run_dir / ".hydra" / "config.yaml").env
    protocol = {
        "env_id": env.id, "repeat_action_probability": env.repeat_action_probability, "frame_skip": env.frameskip,
        "reward_clipping": bool(env.get("clip_rewards", False)), "solve_threshold": summary["solve_threshold"],
        "solve_window": summary["solve_window"], "minutes": args.minutes, "eval_episodes": args.episodes,
        "overrides": args.overrides,
    }  # fmt: skip
    title = f"{'REINFORCE' if args.algo == 'reinforce' else args.algo.upper()}, Pong from pixels"
    figures = results.record(
        f"pong-{args.algo}", title, "pong-learning", shlex.join(["python", "scripts/bench_pong_learning.py", *sys.argv[1:]]),
        protocol, [seed], pgtrain_command=f"pgtrain algo={args.algo} env=pong {' '.join(args.overrides)}".strip(),
        overrides=args.overrides, minutes=args.minutes, run_dir=str(run_dir), summary=summary, curve=curve,
        eval_protocol=seed["eval_sticky"], eval_deterministic_game=seed["eval_deterministic_game"],
        targets=targets(args.algo, curve, sticky),
    )  # fmt: skip
    written = [results.write(figures, run_dir / "bench_learning.json")]
    if args.json is not None or args.minutes >= 10:
        written.append(results.write(figures, args.json))
    print(f"targets: {figures['targets']}\nwrote {', '.join(map(str, written))}", flush=True)
    png = args.png or run_dir / "curve.png"
    script = Path(__file__).resolve().parent / "pong_curve.py"
    target = "18" if args.algo == "ppo" else "15"
    subprocess.run([sys.executable, str(script), str(run_dir), "--target", target, "--out", str(png)], check=True)


if __name__ == "__main__":
    main()
