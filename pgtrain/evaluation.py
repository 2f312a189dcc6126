"""Evaluate a saved policy: ``pgtrain-eval RUN_DIR`` plays episodes, prints mean ± std, writes ``eval.json``, records MP4s.

The algorithm is rebuilt from the checkpoint alone (its saved config, the env's spaces, the registry), so this works for
every algorithm and env without special cases. Episodes are played one after another in a single env, episode ``k``
reset with seed ``seed + k``, so the returns are the same with or without ``--video``. Videos show what the env renders
(``render_mode="rgb_array"``): for Pong that is the real game screen, not the preprocessed observation.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from pgtrain import checkpoint
from pgtrain.errors import PgtrainError
from pgtrain.playing import Mp4Writer, make_play_env, play_episode, render_fps

EVAL_SEED_OFFSET = 100_000  # default evaluation seed = the run's seed + this: episodes the run never trained on


# ----------------------------------------------------------------------------------------------------------------------
# A run's checkpoint -> a playing algorithm


def load_policy(ckpt_path: Path, device_name: str | None = None) -> tuple[Any, Any, dict[str, Any]]:
    """Rebuild the algorithm saved in ``ckpt_path``: returns ``(algo, config, checkpoint state)``."""
    import torch

    from pgtrain.algos import algo_class
    from pgtrain.config import typed_config
    from pgtrain.workspace import prepare, resolve_device

    state = checkpoint.load(ckpt_path)
    raw = typed_config(state["config"])
    if device_name is not None:
        raw.device.name = device_name
    cfg = prepare(raw)
    torch.set_num_threads(cfg.device.torch_threads)
    envs = make_play_env(cfg.env, render=False)
    try:
        obs_space, act_space = envs.single_observation_space, envs.single_action_space
    finally:
        envs.close()
    algo = algo_class(cfg.algo.name)(obs_space, act_space, cfg.algo, resolve_device(cfg.device))
    try:
        algo.load_state_dict(state["algo_state"])
    except (KeyError, RuntimeError, ValueError) as ex:
        raise PgtrainError(f"checkpoint {ckpt_path} does not fit its own config's networks: {str(ex).splitlines()[0]}") from None
    return algo, cfg, state


def evaluate_run(
    run_dir: Path,
    ckpt_path: Path | None = None,
    episodes: int = 10,
    explore: bool = False,
    video: bool = False,
    device: str | None = None,
    seed: int | None = None,
) -> dict[str, Any]:
    """Play ``episodes`` episodes with the checkpoint's policy, write ``run_dir/eval.json`` (and MP4s); returns the report."""
    run_dir = Path(run_dir)
    checkpoint.check_run_dir(run_dir)
    if episodes < 1:
        raise PgtrainError(f"--episodes={episodes}: play at least one episode")
    ckpt_path = Path(ckpt_path) if ckpt_path is not None else run_dir / "checkpoints" / "last.pt"
    algo, cfg, state = load_policy(ckpt_path, device)
    checkpoint.check_belongs(state, run_dir, ckpt_path)
    seed = cfg.seed + EVAL_SEED_OFFSET if seed is None else seed
    envs = make_play_env(cfg.env, render=video, normalization=state.get("normalization"))  # frozen training statistics
    returns, lengths, videos = [], [], []
    try:
        for k in range(episodes):
            writer = None
            if video:
                name = f"eval-{ckpt_path.stem}-{'stochastic' if explore else 'deterministic'}-seed{seed + k}.mp4"
                writer = Mp4Writer(run_dir / "videos" / name, render_fps(envs))
            try:
                ret, length = play_episode(algo, envs, seed + k, explore, on_frame=writer)
                if writer is not None:
                    writer.close()
                    videos.append(str(writer.path.relative_to(run_dir)))
            except BaseException:
                if writer is not None:
                    writer.abort()
                raise
            returns.append(ret)
            lengths.append(length)
    finally:
        envs.close()
    report = {
        "checkpoint": str(ckpt_path.resolve()),
        "checkpoint_env_steps": int(state["counters"]["env_steps"]),
        "algo": cfg.algo.name,
        "env": cfg.env.name,
        "env_id": cfg.env.id,
        "episodes": episodes,
        "deterministic": not explore,
        "seed": seed,
        "returns": returns,
        "lengths": lengths,
        "mean": float(np.mean(returns)),
        "std": float(np.std(returns)),
        "min": float(np.min(returns)),
        "max": float(np.max(returns)),
        "videos": videos,
        "device": str(algo.device),
    }
    tmp = run_dir / f".eval.json.tmp-{os.getpid()}"
    tmp.write_text(json.dumps(report, indent=2) + "\n")
    os.replace(tmp, run_dir / "eval.json")
    return report


# ----------------------------------------------------------------------------------------------------------------------
# The command


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="pgtrain-eval",
        description="Play episodes with a run's saved policy, print mean ± std return, write RUN_DIR/eval.json.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", type=Path, help="a pgtrain run directory")
    p.add_argument("--checkpoint", type=Path, default=None, help="checkpoint to load (default: RUN_DIR/checkpoints/last.pt)")
    p.add_argument("--episodes", type=int, default=10, help="episodes to play (default: 10)")
    p.add_argument("--stochastic", action="store_true", help="sample actions from the policy (default: deterministic, the mode)")
    p.add_argument("--video", action="store_true", help="record every episode as an MP4 under RUN_DIR/videos/")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default=None, help="device (default: the run's own)")
    p.add_argument(
        "--seed", type=int, default=None, help=f"seed of episode 0; episode k uses seed+k (default: the run's seed + {EVAL_SEED_OFFSET})"
    )
    return p


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    try:
        report = evaluate_run(args.run_dir, args.checkpoint, args.episodes, args.stochastic, args.video, args.device, args.seed)
    except PgtrainError as ex:
        print(f"pgtrain-eval: error: {ex}", file=sys.stderr)
        raise SystemExit(2) from None
    mode = "deterministic" if report["deterministic"] else "stochastic"
    print(
        f"{report['algo']} on {report['env_id']}: return {report['mean']:.2f} ± {report['std']:.2f} over {report['episodes']} "
        f"{mode} episodes (checkpoint {report['checkpoint']}, {report['checkpoint_env_steps']:,} env steps)"
    )
    for path in report["videos"]:
        print(f"video: {args.run_dir / path}")
    print(f"wrote {args.run_dir / 'eval.json'}")


if __name__ == "__main__":
    main()
