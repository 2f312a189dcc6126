"""Pong throughput in one run: the best raw emulator speed, pgtrain's env, pgtrain's training, and their ratios.

All phases use the configuration ``pgtrain algo=ALGO env=pong`` composes (the tuned file included): the same number of
envs, the same backend, emulator threads, frames and env settings (sticky actions 0.25, the default protocol, included):

1. emulator: the bare emulators (ale-py's AtariVectorEnv returning the same whole RGB frames, or gymnasium's vector
   env of ALE/Pong-v5, no preprocessing) stepped with uniformly random actions, twice: in lockstep (every env each step)
   and in ale-py's async mode (``--raw-batch`` envs per step, default the configured ``env.async_batch``, else half
   the envs; several values measure one async phase each). The fastest of them is the denominator: the best the
   emulators do with these envs and threads;
2. env: pgtrain's vector env (``make_vec_env``: preprocessing, action mapping, episode statistics), random actions;
3. training: a real ``pgtrain`` process (collect, update, log, checkpoint), stopped by SIGINT after ``--train-seconds``
   of training; its summary.json gives the env steps per second of its training loop (imports and env construction
   excluded).

The ratio training / emulator (the best raw form) is the headline figure (the target: >= 90 %); training / env
is printed beside it. On a machine that other jobs share, only the ratios of one run mean anything. ``--variants``
repeats the training phase once per set of overrides (the first is the headline), side by side in one run.
``--rounds N`` runs the raw phases and the training phases in turn N times and reports each form's median over the
rounds (the denominator: the fastest median raw form) and each round's ratio: a shared machine's speed drifts by tens
of per cent over minutes, and one round compares phases minutes apart.

    python scripts/bench_pong_throughput.py                    # reinforce, 30 s raw phases, 120 s of training
    python scripts/bench_pong_throughput.py --algo a2c
    python scripts/bench_pong_throughput.py --quick            # a few seconds each: checks that it runs
    python scripts/bench_pong_throughput.py --variants "env.async_batch=8" "env.async_batch=0 env.pipeline_groups=2" \
        "env.async_batch=0 env.pipeline_groups=1"              # async mode, pipelined groups, lockstep
    python scripts/bench_pong_throughput.py -- algo.num_envs=16 env.num_threads=2
    python scripts/bench_pong_throughput.py --raw-batch 8 12 --variants "env.async_batch=12" "env.async_batch=8"
    python scripts/bench_pong_throughput.py --rounds 3 --raw-seconds 20 --train-seconds 60 --raw-batch 8 10 12
    python scripts/bench_pong_throughput.py --rounds 3 --raw-seconds 20 --train-seconds 60 --raw-batch 16 24 --raw-envs 16

The figures go to a result file (scripts/results.py's envelope): ``--json`` (a file, or a folder for
``<task>_<date>.json``), by default benchmarks/results/ (``--quick``: runs/).

``--raw-envs`` adds a second denominator: the fastest raw form at other numbers of envs (32 bare emulators run slower
than 16 here, so the same-envs ratio of a 32-env configuration is printed beside the ratio to the 16-env raw forms).
"""

from __future__ import annotations

import argparse
import json
import shlex
import signal
import subprocess
import sys
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
import results  # noqa: E402


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
    """Vector steps with random actions for ``seconds``; every env step returned counts (in ale-py's async mode a step
    returns ``batch_size`` envs, named by ``info["env_id"]``)."""
    rng = np.random.default_rng(seed)
    envs.reset(seed=seed)
    n_actions = int(envs.single_action_space.n)
    batch = getattr(envs.unwrapped, "batch_size", envs.num_envs)
    steps = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for _ in range(50):
            envs.step(rng.integers(0, n_actions, size=batch))
        steps += 50 * batch
    sps = steps / (time.perf_counter() - t0)
    envs.close()
    return sps


def with_variant(overrides: list[str], variant: str) -> list[str]:
    """The overrides with a variant's: a key the variant sets replaces the same key's earlier value (pgtrain refuses a
    key given twice)."""
    extra = variant.split()
    keys = {o.split("=", 1)[0] for o in extra}
    return [o for o in overrides if o.split("=", 1)[0] not in keys] + extra


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
    parser.add_argument(
        "--raw-batch", type=int, nargs="+", default=None, help="envs per raw async step, one phase each (default: env.async_batch or N/2)"
    )
    parser.add_argument(
        "--raw-envs",
        type=int,
        nargs="+",
        default=[],
        help="also time the raw forms with these numbers of envs (lockstep, async N/2 and 3N/4) in each round: a second "
        "denominator, the fastest raw form at any of these env counts",
    )
    parser.add_argument("--variants", nargs="+", default=[""], help="training phases: space-separated overrides each")
    parser.add_argument("--rounds", type=int, default=1, help="repeat the raw phases and the training phases in turn; figures are medians")
    parser.add_argument("--json", type=Path, help="the result file, or its folder (default benchmarks/results/; --quick: runs/)")
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
    raw_batches = [b for b in args.raw_batch or [cfg.env.async_batch or n // 2] if cfg.env.backend == "ale_vector" and 0 < b < n]
    rounds = []  # each round: every raw form, then every training variant, one after the other
    for round_no in range(args.rounds):
        if args.rounds > 1:
            print(f"round {round_no + 1} of {args.rounds}", flush=True)
        raw = {"lockstep": random_steps_per_s(raw_emulator(lockstep, n), args.raw_seconds, cfg.seed)}
        print(f"emulator, random actions, lockstep:  {raw['lockstep']:10,.0f} env steps/s", flush=True)
        for raw_batch in raw_batches:
            raw[raw_batch] = random_steps_per_s(raw_emulator(replace(cfg.env, async_batch=raw_batch), n), args.raw_seconds, cfg.seed)
            print(f"emulator, random actions, async {raw_batch:>2}: {raw[raw_batch]:10,.0f} env steps/s", flush=True)
        best = max(raw.values())
        other = {}  # the raw forms at other env counts: "N lockstep", "N async B"
        for m in (m for m in args.raw_envs if m != n):  # the configured count's forms are timed above
            for b in dict.fromkeys((0, m // 2, 3 * m // 4)) if cfg.env.backend == "ale_vector" else (0,):
                form = f"{m} async {b}" if b else f"{m} lockstep"
                other[form] = random_steps_per_s(raw_emulator(replace(cfg.env, async_batch=b), m), args.raw_seconds, cfg.seed)
                print(f"emulator, random actions, {form}: {other[form]:10,.0f} env steps/s", flush=True)
        best_any = max(best, *other.values())
        if round_no == 0:
            env = random_steps_per_s(make_vec_env(lockstep, n), args.raw_seconds, cfg.seed)
            print(f"pgtrain env, random actions:         {env:10,.0f} env steps/s", flush=True)
        trained = []
        for variant in args.variants:
            with tempfile.TemporaryDirectory() as tmp:
                summary = training_steps_per_s(with_variant(overrides, variant), args.train_seconds, Path(tmp))
            train = summary["steps_per_second"]
            print(
                f"pgtrain training [{variant or 'as configured'}] ({summary['env_steps']:,} steps, {summary['updates']} "
                f"updates, {summary['wall_time_s']:.0f} s): {train:10,.0f} env steps/s   "
                f"training / best emulator of the round: {train / best:.1%}   training / env: {train / env:.1%}"
                + (f"   training / best emulator at any env count: {train / best_any:.1%}" if other else ""),
                flush=True,
            )
            ratios = {"ratio_emulator": train / best, "ratio_emulator_any_envs": train / best_any}
            trained.append({"variant": variant, "train_sps": train, **ratios, "summary": summary})
        rounds.append({"emulator_by_form": {str(k): v for k, v in raw.items()}, "emulator_sps": best, "emulator_other_envs": other,
                       "training": trained})  # fmt: skip
    # over the rounds: each raw form's median speed, the fastest of those the denominator; each variant's median speed
    forms = {form: float(np.median([r["emulator_by_form"][form] for r in rounds])) for form in rounds[0]["emulator_by_form"]}
    emulator = max(forms.values())
    emulator_lockstep = forms["lockstep"]
    async_sps = {int(k): v for k, v in forms.items() if k != "lockstep"}
    raw_batch = max(async_sps, key=async_sps.__getitem__) if async_sps else None  # the fastest async form
    emulator_async = async_sps.get(raw_batch)
    other_forms = {form: float(np.median([r["emulator_other_envs"][form] for r in rounds])) for form in rounds[0]["emulator_other_envs"]}
    emulator_any = max(emulator, *other_forms.values())
    runs = []
    for i, variant in enumerate(args.variants):
        train = float(np.median([r["training"][i]["train_sps"] for r in rounds]))
        per_round = [r["training"][i]["ratio_emulator"] for r in rounds]
        runs.append({"variant": variant, "train_sps": train, "ratio_emulator": train / emulator, "ratio_env": train / env,
                     "ratio_emulator_any_envs": train / emulator_any,
                     "ratio_emulator_by_round": per_round, "summary": rounds[-1]["training"][i]["summary"]})  # fmt: skip
        if args.rounds > 1:
            print(
                f"medians of {args.rounds} rounds, [{variant or 'as configured'}]: training {train:,.0f} env steps/s, "
                f"best raw form {emulator:,.0f} ({max(forms, key=forms.__getitem__)}): {train / emulator:.1%}; "
                f"per round {', '.join(f'{x:.1%}' for x in per_round)}",
                flush=True,
            )
            if other_forms:
                best_form = max(other_forms, key=other_forms.__getitem__) if emulator_any > emulator else f"{n} envs"
                print(
                    f"  against the best raw form at any env count {emulator_any:,.0f} ({best_form}): {train / emulator_any:.1%}",
                    flush=True,
                )
    figures = {
        "algo": args.algo, "num_envs": n, "repeat_action_probability": getattr(cfg.env, "repeat_action_probability", None),
        "emulator_sps": emulator, "emulator_lockstep_sps": emulator_lockstep, "emulator_async_sps": emulator_async,
        "emulator_async_batch": raw_batch, "emulator_async_by_batch": async_sps, "emulator_other_envs": other_forms,
        "emulator_any_envs_sps": emulator_any, "env_sps": env, **runs[0], "runs": runs,
        "rounds": rounds,
    }  # fmt: skip
    protocol = {
        "env_id": cfg.env.id, "repeat_action_probability": figures["repeat_action_probability"],
        "frame_skip": getattr(cfg.env, "frameskip", None), "num_envs": n, "overrides": args.overrides,
        "raw_seconds": args.raw_seconds, "train_seconds": args.train_seconds, "rounds": args.rounds,
    }  # fmt: skip
    title = f"Pong training speed against the raw emulators, {'REINFORCE' if args.algo == 'reinforce' else args.algo.upper()}"
    command = shlex.join(["python", "scripts/bench_pong_throughput.py", *sys.argv[1:]])
    rec = results.record(f"pong-{args.algo}-throughput", title, "throughput", command, protocol, [], **figures)
    path = results.write(rec, args.json or (Path("runs") if args.quick else None))
    print(f"wrote {path}", flush=True)


if __name__ == "__main__":
    main()
