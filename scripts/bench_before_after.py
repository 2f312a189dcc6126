"""Two checkouts of pgtrain side by side (e.g. before and after a refactor), alternating, into one JSON result file.

Each measurement runs one ``pgtrain`` process at a time from each checkout in turn (the order swapped every round), so
that the machine's load falls on both alike:

1. CartPole: ``pgtrain algo=ppo env=cartpole stop_on_solve=true`` (its tuned preset), env steps and wall seconds to solve
   (from the start of the training loop), per seed; equal env steps on both sides mean the same trajectory;
2. Pendulum: the same with ``algo=ddpg env=pendulum``, the preset that solves it in the least wall time;
3. Pong: ``pgtrain algo=reinforce env=pong`` (its preset), stopped by SIGINT ``--pong-seconds`` after its training loop
   started; env steps per second of the training loop from summary.json, ``--rounds`` rounds (after one short
   unmeasured run per checkout, in which numba compiles its kernels).

    git worktree add /tmp/before a3a140d --detach
    python scripts/bench_before_after.py /tmp/before .     # writes benchmarks/results/before-after_<date>.json
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import resource
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import results  # noqa: E402


def pgtrain(tree: Path, args: list[str], run_dir: Path, stop_after: float | None = None) -> dict:
    """``python -m pgtrain.cli ARGS`` from checkout ``tree`` into ``run_dir``; its summary.json. ``stop_after``: SIGINT
    that many seconds after the training loop started (its TensorBoard file appears just before)."""
    env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONUNBUFFERED": "1"}
    argv = [sys.executable, "-m", "pgtrain.cli", *args, f"hydra.run.dir={run_dir}", "progress=false", "device=cpu"]
    proc = subprocess.Popen(argv, cwd=run_dir.parent, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if stop_after is not None:
        while proc.poll() is None and not list(run_dir.glob("events.out.tfevents.*")):
            time.sleep(0.1)
        time.sleep(stop_after)
        proc.send_signal(signal.SIGINT)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    _, err = proc.communicate()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode not in (0, 128 + signal.SIGINT) or not (run_dir / "summary.json").is_file():
        raise SystemExit(f"pgtrain {' '.join(args)} from {tree} failed (exit {proc.returncode}): {err.strip()[-2000:]}")
    summary = json.loads((run_dir / "summary.json").read_text())
    # CPU seconds of the whole process (its children included): less stretched by other jobs' load than wall time
    summary["process_cpu_s"] = round(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 2)
    return summary


def solve(trees: dict[str, Path], algo: str, env: str, seeds: list[int], work: Path) -> list[dict]:
    rows = []
    for i, seed in enumerate(seeds):
        order = list(trees) if i % 2 == 0 else list(trees)[::-1]
        for side in order:
            run_dir = work / f"{side}-{algo}-{env}-{seed}"
            summary = pgtrain(trees[side], [f"algo={algo}", f"env={env}", f"seed={seed}", "stop_on_solve=true"], run_dir)
            solved = summary.get("solved") or {}
            rows.append(
                {
                    "side": side,
                    "seed": seed,
                    "env_steps_to_solve": solved.get("env_steps"),
                    "wall_s_to_solve": solved.get("wall_time_s"),
                    "process_cpu_s": summary["process_cpu_s"],
                }
            )
            print(f"{algo} {env} seed {seed} {side}: {rows[-1]}", file=sys.stderr)
    return rows


def pong(trees: dict[str, Path], seconds: float, rounds: int, work: Path) -> list[dict]:
    for side, tree in trees.items():  # numba compiles each checkout's kernels on first use (cached on disk): not measured
        pgtrain(tree, ["algo=reinforce", "env=pong", "total_steps=3000"], work / f"{side}-pong-warmup")
    rows = []
    for r in range(rounds):
        order = list(trees) if r % 2 == 0 else list(trees)[::-1]
        for side in order:
            summary = pgtrain(
                trees[side],
                ["algo=reinforce", "env=pong", "total_steps=1000000000", "checkpoint_every_s=0"],
                work / f"{side}-pong-{r}",
                seconds,
            )
            rows.append(
                {
                    "side": side,
                    "round": r,
                    "env_steps": summary["env_steps"],
                    "env_steps_per_s": summary["steps_per_second"],
                    "process_cpu_s": summary["process_cpu_s"],
                }
            )
            print(f"pong round {r} {side}: {rows[-1]}", file=sys.stderr)
    return rows


def medians(rows: list[dict], key: str) -> dict[str, float | None]:
    out = {}
    for side in dict.fromkeys(r["side"] for r in rows):
        values = [r[key] for r in rows if r["side"] == side and r[key] is not None]
        out[side] = statistics.median(values) if values else None
    return out


def commit(tree: Path) -> dict:
    git = lambda *a: subprocess.run(["git", "-C", str(tree), *a], capture_output=True, text=True).stdout.strip()  # noqa: E731
    return {"path": str(tree), "commit": git("rev-parse", "--short", "HEAD"), "uncommitted_changes": bool(git("status", "--porcelain"))}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("before", type=Path)
    p.add_argument("after", type=Path)
    p.add_argument("--cartpole-seeds", type=int, nargs="*", default=[0, 1, 2])
    p.add_argument("--pendulum-seeds", type=int, nargs="*", default=[0, 1])
    p.add_argument("--pong-seconds", type=float, default=20.0)
    p.add_argument("--rounds", type=int, default=3, help="Pong rounds")
    p.add_argument("--json", type=Path, help="result file or folder (default: benchmarks/results/)")
    p.add_argument("--note", default="", help="a line for the result file (e.g. that the machine was shared)")
    args = p.parse_args()
    trees = {"before": args.before.resolve(), "after": args.after.resolve()}
    started = datetime.datetime.now(datetime.UTC)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        cartpole = solve(trees, "ppo", "cartpole", args.cartpole_seeds, work)
        pendulum = solve(trees, "ddpg", "pendulum", args.pendulum_seeds, work)
        pong_rows = pong(trees, args.pong_seconds, args.rounds, work) if args.rounds else []
    protocol = {
        "order": "one process at a time, before/after alternating (order swapped every seed and round)",
        "cartpole": "algo=ppo env=cartpole stop_on_solve=true",
        "pendulum": "algo=ddpg env=pendulum stop_on_solve=true",
        "pong": f"algo=reinforce env=pong (sticky actions 0.25), SIGINT {args.pong_seconds:g} s after the training loop started",
    }
    rec = results.record(
        "before-after",
        "Before and after a change: CartPole and Pendulum time to solve, Pong training env steps/s",
        "speed",
        shlex.join(["python", *sys.argv]),
        protocol,
        seeds=[],
        notes=args.note or None,
        duration_s=round((datetime.datetime.now(datetime.UTC) - started).total_seconds(), 1),
        load_average_1min={"start": load_before[0], "end": os.getloadavg()[0]},
        trees={side: commit(tree) for side, tree in trees.items()},
        cartpole_ppo={
            "runs": cartpole,
            "median_wall_s_to_solve": medians(cartpole, "wall_s_to_solve"),
            "median_process_cpu_s": medians(cartpole, "process_cpu_s"),
        },
        pendulum_ddpg={
            "runs": pendulum,
            "median_wall_s_to_solve": medians(pendulum, "wall_s_to_solve"),
            "median_process_cpu_s": medians(pendulum, "process_cpu_s"),
        },
        pong_reinforce={"runs": pong_rows, "median_env_steps_per_s": medians(pong_rows, "env_steps_per_s") if pong_rows else {}},
    )
    print(json.dumps(rec, indent=2))
    print(f"wrote {results.write(rec, args.json)}")


if __name__ == "__main__":
    main()
