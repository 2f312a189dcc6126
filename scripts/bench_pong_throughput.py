"""Pong throughput in one run: raw random-action env steps/s, then pgtrain's training steps/s, and their ratio.

Both phases use the configuration ``pgtrain algo=ALGO env=pong`` composes (the tuned file included), so the same
number of envs, the same backend and the same emulator threads (or worker processes):

1. emulator: the bare emulators (ale-py's AtariVectorEnv, or gymnasium's vector env of ALE/Pong-v5, no preprocessing)
   stepped with uniformly random actions;
2. env: pgtrain's vector env (``make_vec_env``: preprocessing, action mapping, episode statistics), random actions;
3. training: a real ``pgtrain`` process (collect, update, log, checkpoint), stopped by SIGINT after ``--train-seconds``
   of training; its summary.json gives the env steps per second of its training loop (imports and env construction
   excluded).

The ratio training / emulator is the figure the issue's target (>= 80 %) is about; training / env is printed beside it.
The raw phases always step every env in lockstep (``env.async_batch=0``), the strictest denominator. ``--variants``
repeats the training phase once per set of overrides (the first is the headline), to show side by side in one run
what ale-py's async mode (``env.async_batch``) and the pipelined groups (``env.pipeline_groups``) gain.

    python scripts/bench_pong_throughput.py                    # reinforce, 30 s raw phases, 120 s of training
    python scripts/bench_pong_throughput.py --algo a2c
    python scripts/bench_pong_throughput.py --quick            # a few seconds each: checks that it runs
    python scripts/bench_pong_throughput.py --variants "env.async_batch=8" "env.async_batch=0 env.pipeline_groups=2" \
        "env.async_batch=0 env.pipeline_groups=1"              # async mode, pipelined groups, lockstep
    python scripts/bench_pong_throughput.py -- algo.num_envs=16 env.num_threads=2
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from hydra import compose, initialize_config_dir

from pgtrain import spawn
from pgtrain.cli import CONFIG_DIR  # registers the schemas
from pgtrain.config import to_object
from pgtrain.envs import make_vec_env
from pgtrain.envs.pong import make_pong_vec_env


def raw_emulator(env_cfg, num_envs: int) -> object:
    """The emulators alone: what make_pong_vec_env builds under the preprocessing, without it."""
    if env_cfg.backend == "ale_vector":
        return make_pong_vec_env(env_cfg, num_envs).unwrapped  # the AtariVectorEnv under the wrappers
    import ale_py
    import gymnasium as gym
    from gymnasium.vector import AutoresetMode

    gym.register_envs(ale_py)
    mode = "async" if env_cfg.vectorization == "async" else "sync"
    return gym.make_vec(
        env_cfg.id,
        num_envs=num_envs,
        vectorization_mode=mode,
        vector_kwargs={"autoreset_mode": AutoresetMode.NEXT_STEP},
        frameskip=env_cfg.frameskip,
        repeat_action_probability=env_cfg.repeat_action_probability,
        full_action_space=False,
    )


def random_steps_per_s(envs, seconds: float, seed: int) -> float:
    """Vector steps with random actions for ``seconds``; every env step counts."""
    rng = np.random.default_rng(seed)
    envs.reset(seed=seed)
    n_actions = int(envs.single_action_space.n)
    steps = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for _ in range(50):
            envs.step(rng.integers(0, n_actions, size=envs.num_envs))
        steps += 50 * envs.num_envs
    sps = steps / (time.perf_counter() - t0)
    envs.close()
    return sps


def training_steps_per_s(overrides: list[str], seconds: float, workdir: Path) -> dict:
    """Run ``pgtrain`` with an open budget and stop it with SIGINT (it saves and writes summary.json) ``seconds`` after
    its training loop started (its TensorBoard file appears just before)."""
    run_dir = workdir / "train"
    args = [*overrides, "total_steps=1000000000", f"hydra.run.dir={run_dir}", "progress=false", "checkpoint_every_s=0"]
    proc = spawn.start(*args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    while proc.poll() is None and not list(run_dir.glob("events.out.tfevents.*")):
        time.sleep(0.1)
    time.sleep(seconds)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate()
    if proc.returncode not in (0, 128 + signal.SIGINT) or not (run_dir / "summary.json").is_file():
        raise SystemExit(f"pgtrain failed (exit {proc.returncode}): {err.strip()}")
    return json.loads((run_dir / "summary.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--algo", default="reinforce")
    parser.add_argument("--raw-seconds", type=float, default=30.0, help="seconds of each random-action phase")
    parser.add_argument("--train-seconds", type=float, default=120.0, help="seconds of training (several REINFORCE updates)")
    parser.add_argument("--quick", action="store_true", help="3 s raw phases and 10 s of training")
    parser.add_argument("--variants", nargs="+", default=[""], help="training phases: space-separated overrides each")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("overrides", nargs="*", help="pgtrain overrides after --, e.g. algo.num_envs=16")
    args = parser.parse_args()
    if args.quick:
        args.raw_seconds, args.train_seconds = 3.0, 10.0
    overrides = [f"algo={args.algo}", "env=pong", *args.overrides]
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = to_object(compose("config", overrides=overrides))
    n = cfg.algo.num_envs
    where = f"backend={cfg.env.backend}" + (f", vectorization={cfg.env.vectorization}" if cfg.env.backend == "gymnasium" else "")
    print(f"pgtrain algo={args.algo} env=pong: {n} envs, {where}, preprocess={cfg.env.preprocess}", flush=True)

    lockstep = replace(cfg.env, async_batch=0)
    emulator = random_steps_per_s(raw_emulator(lockstep, n), args.raw_seconds, cfg.seed)
    print(f"emulator, random actions:        {emulator:10,.0f} env steps/s", flush=True)
    env = random_steps_per_s(make_vec_env(lockstep, n), args.raw_seconds, cfg.seed)
    print(f"pgtrain env, random actions:     {env:10,.0f} env steps/s", flush=True)
    runs = []
    for variant in args.variants:
        with tempfile.TemporaryDirectory() as tmp:
            summary = training_steps_per_s([*overrides, *variant.split()], args.train_seconds, Path(tmp))
        train = summary["steps_per_second"]
        print(
            f"pgtrain training [{variant or 'as configured'}] ({summary['env_steps']:,} steps, {summary['updates']} "
            f"updates, {summary['wall_time_s']:.0f} s): {train:10,.0f} env steps/s   "
            f"training / emulator: {train / emulator:.1%}   training / env: {train / env:.1%}",
            flush=True,
        )
        runs.append({"variant": variant, "train_sps": train, "ratio_emulator": train / emulator,
                     "ratio_env": train / env, "summary": summary})  # fmt: skip
    if args.json:
        figures = {"algo": args.algo, "num_envs": n, "emulator_sps": emulator, "env_sps": env, **runs[0], "runs": runs}
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
