"""The learner's own CPU per env step in ``pgtrain algo=reinforce env=pong``: the training loop's main-thread CPU time
(``time.thread_time``: preprocessing, acting, the collector, the update, ale-py's send/recv calls) divided by the env
steps it took. Unlike throughput, it barely depends on what else the machine runs, so a change can be compared on a
shared machine.

Two modes:

- default: the real emulators in their threads (the main thread also pays for cache and core sharing with them);
- ``--replay``: the emulators' first ``--record`` async batches are recorded, then replayed instead of stepping the
  emulators (every 100th batch ends its first env's game, so games finish and updates run): the main thread's work
  alone, with no emulator thread competing.

    python scripts/bench_pong_learner_cpu.py --steps 60000
    python scripts/bench_pong_learner_cpu.py --replay --steps 80000
    python scripts/bench_pong_learner_cpu.py --replay -- env.async_batch=16 algo.num_envs=32
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from hydra import compose, initialize_config_dir

from pgtrain.cli import CONFIG_DIR  # registers the schemas
from pgtrain.workspace import Workspace


def replay_emulators(record: int) -> list[tuple[Any, ...]]:
    """Make AtariVectorEnv.step record its first ``record`` results, then replay them cyclically."""
    import ale_py.vector_env as ve

    recorded: list[tuple[Any, ...]] = []
    real_step = ve.AtariVectorEnv.step
    replayed = [0]

    def step(self: Any, actions: np.ndarray) -> tuple[Any, ...]:
        if len(recorded) < record:
            obs, rewards, terminated, truncated, info = real_step(self, actions)
            recorded.append((obs.copy(), rewards.copy(), terminated.copy(), truncated.copy(), {"env_id": info["env_id"].copy()}))
            return recorded[-1]
        obs, rewards, terminated, truncated, info = recorded[replayed[0] % record]
        terminated = terminated.copy()
        terminated[0] |= replayed[0] % 100 == 0  # games end, so batches fill and updates run
        replayed[0] += 1
        return obs, rewards, terminated, truncated, info

    ve.AtariVectorEnv.step = step
    return recorded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=60_000, help="env steps measured")
    parser.add_argument("--replay", action="store_true", help="replay recorded emulator batches (the main thread alone)")
    parser.add_argument("--record", type=int, default=400, help="async batches recorded for --replay")
    parser.add_argument("overrides", nargs="*", help="pgtrain overrides after --")
    args = parser.parse_args()
    recorded = replay_emulators(args.record) if args.replay else []
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("config", overrides=["algo=reinforce", "env=pong", "progress=false", "eval_interval=0", "checkpoint_every_s=0",
                                           *args.overrides])  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace(cfg, Path(tmp) / "run")
        collector = ws.collector
        while args.replay and len(recorded) < args.record:  # the recording is not measured
            collector.send(ws.algo.act(getattr(collector, "_policy_obs", lambda: collector.obs)()))
            collector.receive()
        start = collector.env_steps
        ws.cfg.total_steps = collector.limit = start + args.steps
        cpu, wall = time.thread_time(), time.perf_counter()
        summary = ws.train()
        cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
    steps = summary["env_steps"] - start
    mode = "replayed emulator batches" if args.replay else "real emulators"
    print(
        f"{mode}: {steps:,} env steps, {summary['updates']} updates: main-thread CPU {1e6 * cpu / steps:.1f} us per env step "
        f"(wall {1e6 * wall / steps:.1f} us per env step)"
    )


if __name__ == "__main__":
    main()
