"""Env steps per second of pgtrain's vector envs under random actions, for each vectorisation (env.vectorization).

    python scripts/bench_envs.py                       # LunarLander-v3, HalfCheetah-v5, Hopper-v5: sync vs async, 8 envs
    python scripts/bench_envs.py --ids Acrobot-v1 --num-envs 16 --seconds 5

Each (id, mode) is measured ``--repeats`` times, alternating, so that a change of load hits both alike; the best is
reported. ALE games (``ALE/...``) run through env=atari's AtariVectorEnv (mode ``ale``). The figures go to a result
file (scripts/results.py's envelope): ``--json`` (a file, or a folder for ``envs_<date>.json``), by default
benchmarks/results/.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

from pgtrain.config import AtariConfig, EnvConfig
from pgtrain.envs import make_vec_env

sys.path.insert(0, str(Path(__file__).resolve().parent))
import results  # noqa: E402


def steps_per_second(cfg: EnvConfig, num_envs: int, seconds: float) -> float:
    envs = make_vec_env(cfg, num_envs)
    try:
        envs.reset(seed=0)
        envs.action_space.seed(0)
        actions = [envs.action_space.sample() for _ in range(64)]
        steps, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            for a in actions[:16]:
                envs.step(a)
            steps += 16 * num_envs
        return steps / (time.perf_counter() - start)
    finally:
        envs.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ids", nargs="+", default=["LunarLander-v3", "HalfCheetah-v5", "Hopper-v5"])
    p.add_argument("--modes", nargs="+", default=["sync", "async"])
    p.add_argument("--num-envs", type=int, default=8)
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--json", type=Path, help="the result file, or its folder (default benchmarks/results/)")
    args = p.parse_args()
    figures: dict[str, dict[str, float]] = {}
    for env_id in args.ids:
        if env_id.startswith("ALE/"):
            configs = {"ale": AtariConfig(name="atari", id=env_id, action_type="discrete", solve_window=100)}
        else:
            configs = {m: EnvConfig(name="gym", id=env_id, vectorization=m, solve_window=100) for m in args.modes}
        best = {m: 0.0 for m in configs}
        for _ in range(args.repeats):
            for mode, cfg in configs.items():
                best[mode] = max(best[mode], steps_per_second(cfg, args.num_envs, args.seconds))
        line = ", ".join(f"{m} {v:,.0f}" for m, v in best.items())
        print(f"{env_id} x{args.num_envs}: {line} env steps/s", flush=True)
        figures[env_id] = best
    protocol = {"num_envs": args.num_envs, "seconds": args.seconds, "repeats": args.repeats, "actions": "uniformly random"}
    command = shlex.join(["python", "scripts/bench_envs.py", *sys.argv[1:]])
    rec = results.record("envs", "Env steps per second, random actions", "envs", command, protocol, [], steps_per_second=figures)
    print(f"wrote {results.write(rec, args.json)}")


if __name__ == "__main__":
    main()
