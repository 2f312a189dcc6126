"""The learner's own CPU per env step in ``pgtrain algo=reinforce env=pong``: the training loop's main-thread CPU time
(``time.thread_time``: preprocessing, acting, the collector, the update, ale-py's send/recv calls) divided by the env
steps it took. Unlike throughput, it barely depends on what else the machine runs, so a change can be compared on a
shared machine.

Three modes:

- default: the real emulators in their threads (the main thread also pays for cache and core sharing with them); also
  the whole process's CPU per env step (emulator threads included);
- ``--replay``: the emulators' first ``--record`` async batches are recorded, then replayed instead of stepping the
  emulators (every 100th batch ends its first env's game, so games finish and updates run): the main thread's work
  alone, with no emulator thread competing;
- ``--raw``: the bare emulators of the same config (ale-py's AtariVectorEnv, the same frames, envs and async batch),
  uniformly random actions, no preprocessing: the process's CPU per env step that training adds to; with
  ``--busy-us``, the main thread spins that much CPU after each vector step: what a learner of that cost would leave.

Where a run keeps every core busy (the emulators never wait), env steps per second = cores / process CPU per env step,
so ``--raw``'s process CPU per env step over the default mode's predicts training's share of the bare emulators' speed
(``scripts/bench_pong_throughput.py``'s ratio) from CPU times, which other jobs on the machine barely change; it does
not see time the emulators spend idle (during updates, or waiting for the policy), which only the wall clock shows.

    python scripts/bench_pong_learner_cpu.py --steps 60000
    python scripts/bench_pong_learner_cpu.py --raw --steps 60000
    python scripts/bench_pong_learner_cpu.py --raw --steps 60000 --busy-us 200   # a learner of 200 us per batch of 8
    python scripts/bench_pong_learner_cpu.py --replay --steps 80000
    python scripts/bench_pong_learner_cpu.py --replay -- env.async_batch=16 algo.num_envs=32
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from hydra import compose, initialize_config_dir

from pgtrain.cli import CONFIG_DIR  # registers the schemas
from pgtrain.config import to_object
from pgtrain.envs.pong import make_pong_vec_env
from pgtrain.workspace import Workspace


def process_cpu() -> float:
    """CPU seconds of every thread of this process so far (the emulators' C++ threads included)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def raw_cpu(cfg: object, steps: int, busy_us: float = 0.0) -> tuple[int, float, float, float]:
    """The bare emulators of ``cfg`` (the AtariVectorEnv under pgtrain's wrappers) stepped with random actions for
    ``steps`` env steps, the main thread spinning ``busy_us`` of its CPU time after each vector step (a stand-in for a
    learner that touches nothing): env steps, process CPU, main-thread CPU and wall seconds."""
    envs = make_pong_vec_env(cfg.env, cfg.algo.num_envs).unwrapped
    envs.reset(seed=cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    batch = getattr(envs, "batch_size", envs.num_envs)
    n_actions = int(envs.single_action_space.n)
    done = 0
    proc, cpu, wall = process_cpu(), time.thread_time(), time.perf_counter()
    while done < steps:
        envs.step(rng.integers(0, n_actions, size=batch))
        done += batch
        until = time.thread_time() + busy_us / 1e6
        while time.thread_time() < until:
            pass
    proc, cpu, wall = process_cpu() - proc, time.thread_time() - cpu, time.perf_counter() - wall
    envs.close()
    return done, proc, cpu, wall


def timed_updates(algo: Any) -> list[tuple[float, float]]:
    """Make ``algo.update`` record each call's wall and main-thread CPU seconds in the list returned."""
    times: list[tuple[float, float]] = []
    update = algo.update

    def timed(batch: Any) -> dict[str, float]:
        wall, cpu = time.perf_counter(), time.thread_time()
        metrics = update(batch)
        times.append((time.perf_counter() - wall, time.thread_time() - cpu))
        return metrics

    algo.update = timed
    return times


def replay_emulators(record: int) -> list[tuple[Any, ...]]:
    """Make AtariVectorEnv's ``recv`` (and ``step``: the lockstep collectors') record its first ``record`` results, then
    replay them cyclically; ``send`` steps the emulators while recording only."""
    import ale_py.vector_env as ve

    recorded: list[tuple[Any, ...]] = []
    real_send, real_recv = ve.AtariVectorEnv.send, ve.AtariVectorEnv.recv
    replayed = [0]

    def send(self: Any, actions: np.ndarray) -> None:
        if len(recorded) < record:
            real_send(self, actions)

    def recv(self: Any) -> tuple[Any, ...]:
        if len(recorded) < record:
            obs, rewards, terminated, truncated, info = real_recv(self)
            recorded.append((obs.copy(), rewards.copy(), terminated.copy(), truncated.copy(), {"env_id": info["env_id"].copy()}))
            return recorded[-1]
        obs, rewards, terminated, truncated, info = recorded[replayed[0] % record]
        terminated = terminated.copy()
        terminated[0] |= replayed[0] % 100 == 0  # games end, so batches fill and updates run
        replayed[0] += 1
        return obs, rewards, terminated, truncated, info

    def step(self: Any, actions: np.ndarray) -> tuple[Any, ...]:
        send(self, actions)
        return recv(self)

    ve.AtariVectorEnv.send, ve.AtariVectorEnv.recv, ve.AtariVectorEnv.step = send, recv, step
    return recorded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=60_000, help="env steps measured")
    parser.add_argument("--replay", action="store_true", help="replay recorded emulator batches (the main thread alone)")
    parser.add_argument("--record", type=int, default=400, help="async batches recorded for --replay")
    parser.add_argument("--raw", action="store_true", help="the bare emulators with random actions (the denominator)")
    parser.add_argument("--busy-us", type=float, default=0.0, help="--raw: main-thread CPU spun after each vector step")
    parser.add_argument("overrides", nargs="*", help="pgtrain overrides after --")
    args = parser.parse_args()
    recorded = replay_emulators(args.record) if args.replay else []
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("config", overrides=["algo=reinforce", "env=pong", "progress=false", "eval_interval=0", "checkpoint_every_s=0",
                                           *args.overrides])  # fmt: skip
    if args.raw:
        obj = to_object(cfg)
        steps, proc, cpu, wall = raw_cpu(obj, args.steps, args.busy_us)
        batch = f"async {obj.env.async_batch} of {obj.algo.num_envs}" if 0 < obj.env.async_batch < obj.algo.num_envs else "lockstep"
        busy = f", main thread busy {args.busy_us:g} us per vector step" if args.busy_us else ""
        print(
            f"bare emulators ({batch}{busy}), random actions: {steps:,} env steps: process CPU {1e6 * proc / steps:.1f} us per env "
            f"step, main thread {1e6 * cpu / steps:.1f} (wall {1e6 * wall / steps:.1f} us per env step)"
        )
        return
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace(cfg, Path(tmp) / "run")
        collector = ws.collector
        while args.replay and len(recorded) < args.record:  # the recording is not measured
            collector.send(ws.algo.act(getattr(collector, "_policy_obs", lambda: collector.obs)()))
            collector.receive()
        start = collector.env_steps
        ws.cfg.total_steps = collector.limit = start + args.steps
        updates = timed_updates(ws.algo)
        proc, cpu, wall = process_cpu(), time.thread_time(), time.perf_counter()
        summary = ws.train()
        proc, cpu, wall = process_cpu() - proc, time.thread_time() - cpu, time.perf_counter() - wall
    steps = summary["env_steps"] - start
    mode = "replayed emulator batches" if args.replay else "real emulators"
    whole = "" if args.replay else f", process CPU {1e6 * proc / steps:.1f}"
    update_wall, update_cpu = (sum(u[i] for u in updates) for i in (0, 1))
    print(
        f"{mode}: {steps:,} env steps, {summary['updates']} updates: main-thread CPU {1e6 * cpu / steps:.1f} us per env step"
        f"{whole} (wall {1e6 * wall / steps:.1f} us per env step); the updates: {1e3 * update_wall / max(len(updates), 1):.0f} ms "
        f"of wall each ({1e3 * update_cpu / max(len(updates), 1):.0f} ms CPU), {update_wall / wall:.1%} of the loop's wall time"
    )


if __name__ == "__main__":
    main()
