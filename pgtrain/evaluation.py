"""Evaluate a saved policy: ``pgtrain-eval RUN_DIR [env.KEY=VALUE ...]`` plays episodes, prints mean ± std, appends a
record to ``eval.json``, records MP4s.

The algorithm is rebuilt from the checkpoint alone (its saved config, the env's spaces, the registry), so this works for
every algorithm and env without special cases. ``env.KEY=VALUE`` arguments change the env the policy plays in (e.g.
``env.repeat_action_probability=0`` for Pong's deterministic game), checked against the env's schema. Episodes are
played one after another in a single env, episode ``k`` reset with seed ``seed + k``, so the returns are the same with
or without ``--video``. Videos show what the env renders (``render_mode="rgb_array"``): for Pong that is the real game
screen, not the preprocessed observation.

``eval.json`` is ``{"evaluations": [record, ...]}``, one record per evaluation in the order they ran, each with the
whole env config it played under, its seeds and every episode's return: an evaluation under other settings never
replaces an earlier one.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from pgtrain import checkpoint, files
from pgtrain.errors import PgtrainError
from pgtrain.playing import Mp4Writer, make_play_env, play_episode, render_fps

EVAL_SEED_OFFSET = 100_000  # default evaluation seed = the run's seed + this: episodes the run never trained on
FIXED_ENV_KEYS = ("name", "id", "action_type")  # what the policy was trained on: an evaluation cannot change it


# ----------------------------------------------------------------------------------------------------------------------
# A run's checkpoint -> a playing algorithm


def load_policy(ckpt_path: Path, device_name: str | None = None, env_overrides: list[str] | None = None) -> tuple[Any, Any, dict[str, Any]]:
    """Rebuild the algorithm saved in ``ckpt_path``, its env changed by ``env_overrides`` (``env.KEY=VALUE``):
    returns ``(algo, config, checkpoint state)``."""
    import torch

    from pgtrain.algos import algo_class
    from pgtrain.configstore import typed_config
    from pgtrain.resources import resolve_device
    from pgtrain.workspace import prepare

    state = checkpoint.load(ckpt_path)
    raw = apply_env_overrides(typed_config(state["config"]), env_overrides or [])
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


def check_env_overrides(overrides: list[str]) -> None:
    """Refuse, before anything loads, what cannot be an env setting: one line naming the argument."""
    for item in overrides:
        key, eq, _ = item.partition("=")
        if not eq or not key.startswith("env.") or key == "env.":
            raise PgtrainError(f"{item}: only env settings change in an evaluation, as env.KEY=VALUE (e.g. env.frameskip=4)")
        if key.removeprefix("env.") in FIXED_ENV_KEYS:
            raise PgtrainError(f"{key}: the policy was trained on its own env; an evaluation may change its settings, not the env")


def apply_env_overrides(raw: Any, overrides: list[str]) -> Any:
    """``raw`` (a typed config) with each ``env.KEY=VALUE`` merged in; a key the env's schema lacks or a value of the
    wrong type or range raises PgtrainError naming the key."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    from pgtrain.config import one_line, to_object

    check_env_overrides(overrides)
    for item in overrides:
        key = item.partition("=")[0]
        try:
            raw = OmegaConf.merge(raw, OmegaConf.from_dotlist([item]))
        except OmegaConfBaseException as ex:
            reason = "no such setting" if "not in" in str(ex) else one_line(str(ex)).split("; full_key")[0]
            raise PgtrainError(f"{key}: {reason} for env={raw.env.name} (its settings: pgtrain/config.py)") from None
    if overrides:
        to_object(raw)  # the range checks, so a refused value never reaches the env
    return raw


def read_evaluations(path: Path) -> list[dict[str, Any]]:
    """The records already in ``eval.json`` (a file from before the list: its one record); refuses a file it cannot read,
    which it would otherwise overwrite."""
    if not path.exists():
        return []
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as ex:
        raise PgtrainError(f"{path} exists but is not readable JSON ({ex}); move it away to keep it") from None
    if isinstance(data, dict) and isinstance(data.get("evaluations"), list):
        return data["evaluations"]
    if isinstance(data, dict) and "returns" in data:
        return [data]
    raise PgtrainError(f"{path} is not a pgtrain eval.json; move it away to keep it")


def evaluate_run(
    run_dir: Path,
    ckpt_path: Path | None = None,
    episodes: int = 10,
    explore: bool = False,
    video: bool = False,
    device: str | None = None,
    seed: int | None = None,
    env_overrides: list[str] | None = None,
) -> dict[str, Any]:
    """Play ``episodes`` episodes with the checkpoint's policy in its env changed by ``env_overrides``, append the
    record to ``run_dir/eval.json`` (and write MP4s); returns the record."""
    run_dir = Path(run_dir)
    overrides = list(env_overrides or [])
    check_env_overrides(overrides)
    checkpoint.check_run_dir(run_dir)
    if episodes < 1:
        raise PgtrainError(f"--episodes={episodes}: play at least one episode")
    read_evaluations(run_dir / "eval.json")  # refuse an unreadable eval.json before playing, not after
    ckpt_path = Path(ckpt_path) if ckpt_path is not None else run_dir / "checkpoints" / "last.pt"
    algo, cfg, state = load_policy(ckpt_path, device, overrides)
    checkpoint.check_belongs(state, run_dir, ckpt_path)
    seed = cfg.seed + EVAL_SEED_OFFSET if seed is None else seed
    envs = make_play_env(cfg.env, render=video, normalization=state.get("normalization"))  # frozen training statistics
    returns, lengths, videos = [], [], []
    try:
        for k in range(episodes):
            writer = None
            if video:
                settings = "".join(f"-{item}" for item in overrides)
                name = f"eval-{ckpt_path.stem}-{'stochastic' if explore else 'deterministic'}{settings}-seed{seed + k}.mp4"
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
        "actions": "sampled" if explore else "argmax",
        "env_overrides": overrides,
        "env_config": env_settings(cfg.env),  # the whole env config the episodes were played under
        "seed": seed,
        "seeds": [seed + k for k in range(episodes)],  # episode k: reset(seed=seeds[k])
        "returns": returns,
        "lengths": lengths,
        "mean": float(np.mean(returns)),
        "std": float(np.std(returns)),
        "min": float(np.min(returns)),
        "max": float(np.max(returns)),
        "videos": videos,
        "device": str(algo.device),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    earlier = read_evaluations(run_dir / "eval.json")  # again: another evaluation may have finished meanwhile
    files.write_text(run_dir / "eval.json", json.dumps({"evaluations": [*earlier, report]}, indent=2) + "\n")
    return report


def env_settings(env_cfg: Any) -> dict[str, Any]:
    """The env config as plain JSON values (enums as their names)."""
    return {k: (v.value if hasattr(v, "value") else v) for k, v in dataclasses.asdict(env_cfg).items()}


# ----------------------------------------------------------------------------------------------------------------------
# The command


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="pgtrain-eval",
        description="Play episodes with a run's saved policy, print mean ± std return, append the record to RUN_DIR/eval.json.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", type=Path, help="a pgtrain run directory")
    p.add_argument(
        "env_overrides", metavar="env.KEY=VALUE", nargs="*",
        help="play in the run's env with these settings changed, e.g. env.repeat_action_probability=0 (default: the run's own)",
    )  # fmt: skip
    p.add_argument("--checkpoint", type=Path, default=None, help="checkpoint to load (default: RUN_DIR/checkpoints/last.pt)")
    p.add_argument("--episodes", type=int, default=10, help="episodes to play (default: 10)")
    p.add_argument(
        "--sample", "--stochastic", dest="stochastic", action="store_true",
        help="sample actions from the policy (default: deterministic, the mode)",
    )  # fmt: skip
    p.add_argument("--both", action="store_true", help="play the episodes with the mode, then again sampled: two records")
    p.add_argument("--video", action="store_true", help="record every episode as an MP4 under RUN_DIR/videos/")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default=None, help="device (default: the run's own)")
    p.add_argument(
        "--seed", type=int, default=None, help=f"seed of episode 0; episode k uses seed+k (default: the run's seed + {EVAL_SEED_OFFSET})"
    )
    return p


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_intermixed_args(argv)
    for explore in (False, True) if args.both else (args.stochastic,):
        try:
            report = evaluate_run(
                args.run_dir, args.checkpoint, args.episodes, explore, args.video, args.device, args.seed, args.env_overrides
            )
        except PgtrainError as ex:
            print(f"pgtrain-eval: error: {ex}", file=sys.stderr)
            raise SystemExit(ex.exit_status) from None
        mode = "deterministic" if report["deterministic"] else "stochastic"
        settings = f" with {' '.join(args.env_overrides)}" if args.env_overrides else ""
        print(
            f"{report['algo']} on {report['env_id']}{settings}: return {report['mean']:.2f} ± {report['std']:.2f} over "
            f"{report['episodes']} {mode} episodes (checkpoint {report['checkpoint']}, {report['checkpoint_env_steps']:,} env steps)"
        )
        for path in report["videos"]:
            print(f"video: {args.run_dir / path}")
        print(f"appended to {args.run_dir / 'eval.json'}")


def console() -> None:
    """The ``pgtrain-eval`` console script: :func:`main`, then an exit without the interpreter's teardown (pgtrain.workarounds.exits)."""
    from pgtrain.workarounds.exits import run_and_exit

    run_and_exit(main)


if __name__ == "__main__":
    console()
