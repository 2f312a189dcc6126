"""The one training loop: collect, update, log, evaluate, checkpoint, resume.

A :class:`Workspace` owns the envs, the algorithm, the collector, the logger and the counters of one run, and writes
only inside its run directory: TensorBoard events, ``checkpoints/``, ``summary.json``. It holds the directory's lock
(:mod:`pgtrain.rundir`) from before its first write to the end of the run: one writer per run directory.
"""

from __future__ import annotations

import json
import math
import random
import signal
import sys
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from pgtrain import checkpoint, files, resources, rundir
from pgtrain.algos import algo_class
from pgtrain.checks import check
from pgtrain.collectors import AsyncEpisodeCollector, Collector, EpisodeCollector, PipelinedCollector, RolloutCollector
from pgtrain.config import Config, async_batch_of
from pgtrain.curves import FINAL_WINDOW, final_return
from pgtrain.envs import make_vec_env
from pgtrain.envs.normalize import normalization_state
from pgtrain.errors import DiskFull, PgtrainError
from pgtrain.interrupts import Interrupted, atomic, handler
from pgtrain.logger import Logger
from pgtrain.playing import evaluate
from pgtrain.resources import resolve_device
from pgtrain.schedules import Every, Schedules
from pgtrain.tags import RETURN_TAG, SOLVED_TAG

NOTHING_TO_LEARN = {  # why a run that spent its budget made no update, by collector kind (a rollout always has steps)
    "episodes": "no episode finished",
    "replay": "the replay buffer never held max(algo.learning_starts, algo.batch_size) transitions",
}


def prepare(cfg: DictConfig) -> Config:
    """Everything that can be checked before a run writes anything: types, ranges, algo x env (:func:`check`), device,
    and what the run would take from the machine (its batch against the budget, threads, memory: :mod:`pgtrain.resources`)."""
    obj = check(cfg)
    resolve_device(obj.device)
    resources.check(obj)
    return obj


def flat_config(cfg: DictConfig) -> dict[str, Any]:
    """The config as ``{"algo.lr": 0.01, ...}`` with TensorBoard-friendly values, for the HParams tab."""
    out: dict[str, Any] = {}

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{prefix}{key}.")
        else:
            key = prefix[:-1]
            out[key] = node if isinstance(node, (int, float, str, bool)) else str(node)

    plain = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
    walk({k: v for k, v in plain.items() if k != "hydra"}, "")
    return out


def make_collector(kind: str, env_groups: list[Any], cfg: Config) -> Collector | PipelinedCollector:
    """The algorithm's kind of collector over one vector env, or a :class:`PipelinedCollector` over several groups
    (``env.pipeline_groups``); each group is seeded with the index of its first env, as its envs would be in one."""
    if kind == "replay":
        from pgtrain.collectors import ReplayCollector

        return ReplayCollector(env_groups[0], cfg.seed, cfg.algo)
    if kind not in ("episodes", "rollout"):
        raise PgtrainError(f"unknown collector kind {kind!r}")
    if kind == "episodes" and async_batch_of(cfg.env, cfg.algo.num_envs):
        return AsyncEpisodeCollector(env_groups[0], cfg.seed, cfg.algo.episodes_per_update)
    executor = ThreadPoolExecutor(len(env_groups), thread_name_prefix="pgtrain-envs") if len(env_groups) > 1 else None
    groups: list[Any] = []
    seed = cfg.seed
    for envs in env_groups:
        if kind == "episodes":
            groups.append(EpisodeCollector(envs, seed, cfg.algo.episodes_per_update, executor))
        else:
            groups.append(RolloutCollector(envs, seed, cfg.algo.n_steps, executor))
        seed += envs.num_envs
    return groups[0] if executor is None else PipelinedCollector(groups, executor)


class Workspace:
    """One run: ``Workspace(cfg, run_dir).train()`` trains to ``total_steps`` (or resumes from ``checkpoints/last.pt``)."""

    def __init__(self, raw_cfg: DictConfig, run_dir: Path, resume: bool = False, label: str = "", slots: str | None = None) -> None:
        """``label`` and ``slots``: a sweep's job's name on its progress bar or lines, and its sweep (see :class:`Logger`)."""
        self.raw_cfg = raw_cfg
        self.cfg = cfg = prepare(raw_cfg)
        self.run_dir = Path(run_dir)
        rundir.hold(self.run_dir)  # before anything is written: a second writer leaves here (RunBusy)
        self.ckpt_dir = self.run_dir / "checkpoints"
        torch.set_num_threads(cfg.device.torch_threads)
        self.device = resolve_device(cfg.device)
        self._seed(cfg.seed)

        sizes = np.array_split(np.arange(cfg.algo.num_envs), min(cfg.env.pipeline_groups, cfg.algo.num_envs))
        env_groups = [make_vec_env(cfg.env, len(size)) for size in sizes]
        cls = algo_class(cfg.algo.name)
        self.algo = cls(env_groups[0].single_observation_space, env_groups[0].single_action_space, cfg.algo, self.device)
        self.collector = make_collector(cls.collector, env_groups, cfg)
        self.collector.limit = cfg.total_steps  # collection stops at the budget, even in the middle of a batch
        self.schedules = Schedules(cfg.algo, cfg.total_steps)  # lr decay, PPO's annealing, exploration-noise decay

        self.episodes = 0
        self.returns: deque[float] = deque(maxlen=max(FINAL_WINDOW, cfg.env.solve_window))
        self.warmup_returns: deque[float] = deque(maxlen=FINAL_WINDOW)  # shown until an episode of the policy's own ends
        self.solved: dict[str, float] | None = None
        self.wall_offset = 0.0  # wall seconds spent by earlier processes of this run
        self.eval_due, self.video_due, self.checkpoint_due = self._schedules(0)
        self.last_eval: float | None = None
        start_step = 0
        if resume:
            start_step = self._restore(checkpoint.load(self.ckpt_dir / "last.pt"))
        for line in resources.disk_warnings(cfg, start_step):
            print(f"pgtrain: warning: {line}", file=sys.stderr)
        self.logger = Logger(
            self.run_dir,
            cfg.total_steps,
            start_step,
            cfg.progress,
            cfg.log_interval_s,
            # events up to the checkpoint's step stay (the final ones are logged right after the save); later ones go
            purge_step=start_step + 1 if resume else None,
            label=label,
            slots=slots,
        )

    # ------------------------------------------------------------------------------------------------------------------
    # The loop

    def train(self) -> dict[str, Any]:
        """Train until ``total_steps`` env steps (see :meth:`_train`); a write that fails for lack of space ends the run
        with :class:`DiskFull`, which names the checkpoint kept and the command that continues the run."""
        try:
            return self._train()
        except DiskFull as ex:
            self.logger.abandon()
            self.collector.close()  # its worker processes and threads end now, not in the interpreter's teardown
            raise DiskFull(f"{ex}; {self._kept()}") from None

    def _train(self) -> dict[str, Any]:
        """Train until ``total_steps`` env steps (or the solve threshold with ``stop_on_solve``); returns the summary.

        A batch the budget cuts short is learnt from in a last update (what the collector holds, its ``partial_batch``;
        REINFORCE's last step can also finish whole batches of episodes, each learnt from first); a run interrupted
        before its budget keeps it in the checkpoint instead, so the resume completes it exactly."""
        cfg = self.cfg
        self.t_start = time.perf_counter()
        self.last_metrics_time = 0.0  # metrics are flushed to TensorBoard at most once a second
        self.steps_at_start = self.collector.env_steps
        last_ckpt_time = self.t_start
        previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
        self._set_schedules(self.collector.env_steps, log=False)  # a resumed run acts with its schedules' values at once
        try:
            while self.collector.env_steps < cfg.total_steps:
                # collect (the collector records each step whole; see pgtrain.interrupts)
                batch = self.collector.collect(self.algo)
                with atomic():  # a signal here waits until the update is done, so a checkpoint never holds half of one
                    step = self.collector.env_steps
                    for episode in self.collector.pop_finished():
                        self._on_episode(episode.ret, episode.length, episode.env_step, episode.warmup)
                    # update
                    if batch is not None:
                        self._update(batch, step)
                    while step >= cfg.total_steps and (rest := self.collector.partial_batch()) is not None:
                        self._update(rest, step)  # the budget is spent: the last update learns from what was collected
                # log
                self._log_progress(step)
                # evaluate, checkpoint
                if self.eval_due(step):
                    self._evaluate(step)
                if self.video_due(step):
                    self._record_video(step)
                if self.checkpoint_due(step):
                    self.save(periodic=True)
                    last_ckpt_time = time.perf_counter()
                elif cfg.checkpoint_every_s and time.perf_counter() - last_ckpt_time >= cfg.checkpoint_every_s:
                    self.save()
                    last_ckpt_time = time.perf_counter()
                if cfg.stop_on_solve and self.solved is not None:
                    break
        except Interrupted as ex:
            for s in previous:  # a second Ctrl-C must not cut the final save short
                signal.signal(s, signal.SIG_IGN)
            self._finish()
            print(f"pgtrain: stopped by {ex} at env step {self.collector.env_steps:,}; resume with: pgtrain resume={self.run_dir}")
            raise SystemExit(128 + ex.signum) from None
        finally:
            for s, old in previous.items():
                signal.signal(s, old)
        summary = self._finish()
        if self.algo.updates == 0 and self.collector.env_steps >= cfg.total_steps > 0:
            why = NOTHING_TO_LEARN.get(self.algo.collector, "no step could be learnt from")
            print(
                f"pgtrain: warning: no update was made: {why} within total_steps={cfg.total_steps:,} env steps; raise it", file=sys.stderr
            )
        return summary

    def _update(self, batch: Any, step: int) -> None:
        """One update of the algorithm on ``batch`` at env step ``step``, its schedules set first, its metrics checked
        and accumulated for the next flush."""
        cfg = self.cfg
        self._set_schedules(step)
        threads = cfg.device.update_threads
        if threads:
            torch.set_num_threads(threads)
        try:
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # _check_finite says it once
                metrics = self.algo.update(batch)
        finally:
            if threads:
                torch.set_num_threads(cfg.device.torch_threads)
        self._check_finite(metrics, step)
        self.logger.accumulate(metrics)

    def _set_schedules(self, step: int, log: bool = True) -> None:
        """Every schedule's factor at env step ``step`` (pgtrain.schedules), handed to the algorithm; with ``log``, each
        scheduled value is kept for the next flush as ``schedule/<option>`` at this step."""
        factors = self.schedules.factors(step)
        if factors != self.algo.factors:  # constant or settled schedules: nothing to set again
            self.algo.set_schedule(factors)
        if log:
            self.logger.latest(self.schedules.values(factors), step)

    def _finish(self) -> dict[str, Any]:
        self.logger.flush_metrics(self.collector.env_steps)
        self.logger.show(self.collector.env_steps, self.sps(), *self._shown_return(), force=True)
        self.save()
        summary = self.summary()
        files.write_text(self.run_dir / "summary.json", json.dumps(summary, indent=2) + "\n")
        final = {"summary/final_return": summary["final_return"] if summary["final_return"] is not None else float("nan")}
        self.logger.hparams(flat_config(self.raw_cfg), final, self.collector.env_steps)
        self.logger.close()
        self.collector.close()
        rundir.release(self.run_dir)
        return summary

    def _kept(self) -> str:
        """What a run that cannot write any more leaves: the last checkpoint and how to go on from it."""
        last = self.ckpt_dir / "last.pt"
        if not last.exists():
            return "no checkpoint had been written yet"
        return f"the last good checkpoint {last} is kept; free some space, then: pgtrain resume={self.run_dir}"

    def _on_episode(self, ret: float, length: int, step: int, warmup: bool = False) -> None:
        self.episodes += 1
        self.logger.scalar(RETURN_TAG, ret, step)
        self.logger.scalar("train/episodic_length", length, step)
        if warmup:  # DDPG's random warm-up actions played (part of) it: final_return and the solve window skip it
            self.warmup_returns.append(ret)
            return
        self.returns.append(ret)
        window = self.cfg.env.solve_window
        threshold = self.cfg.env.solve_threshold
        if self.solved is None and threshold is not None and len(self.returns) >= window:
            recent = list(self.returns)[-window:]
            if sum(recent) / window >= threshold:
                self.solved = {"env_steps": step, "episodes": self.episodes, "wall_time_s": self.wall_time()}
                self.logger.scalar(SOLVED_TAG, self.solved["wall_time_s"], step)

    def _log_progress(self, step: int) -> None:
        sps = self.sps()
        now = time.perf_counter()
        if now - self.last_metrics_time >= 1.0 or step >= self.cfg.total_steps:
            self.last_metrics_time = now
            self.logger.flush_metrics(step)
            self.logger.scalar("time/sps", sps, step)
        ret, label = self._shown_return()
        extra = label if self.last_eval is None else f"{label} eval={self.last_eval:.1f}"
        self.logger.show(step, sps, ret, extra)

    def _shown_return(self) -> tuple[float | None, str]:
        """The progress bar's return: the policy's episodes, or, before any has ended, the random warm-up's (labelled)."""
        if self.returns or not self.warmup_returns:
            return self.recent_return(), ""
        return float(np.mean(self.warmup_returns)), " (random warm-up)"

    def _evaluate(self, step: int) -> None:
        returns = evaluate(
            self.algo, self.cfg.env, self.cfg.eval_episodes, seed=self.cfg.seed + 10_000 + step, normalization=self.normalization()
        )
        self.last_eval = float(np.mean(returns))
        self.logger.scalar("eval/mean_return", self.last_eval, step)

    def _record_video(self, step: int) -> None:
        """One deterministic episode: ``videos/train_step_<n>.mp4`` and a GIF preview in TensorBoard's Images tab."""
        from pgtrain.playing import record_video

        path = self.run_dir / "videos" / f"train_step_{step}.mp4"
        seed = self.cfg.seed + 20_000 + step
        ret, sampled, fps = record_video(self.algo, self.cfg.env, path, seed=seed, normalization=self.normalization())
        self.logger.video("eval/video", sampled.frames, step, fps / sampled.stride)
        self.logger.scalar("eval/video_return", ret, step)

    def normalization(self) -> dict[str, Any] | None:
        """The running normalisation statistics of the training envs (the first group's), for evaluation and checkpoints."""
        groups = getattr(self.collector, "groups", None)
        return normalization_state((groups[0] if groups else self.collector).envs)

    def _check_finite(self, metrics: dict[str, float], step: int) -> None:
        """Stop on a NaN/inf loss or parameter before anything saves the broken state."""
        bad = [f"{k} is {v}" for k, v in metrics.items() if not math.isfinite(v)]
        bad += [f"parameter {name} is not finite" for name in self.algo.nonfinite_parameters()]
        if not bad:
            return
        last = self.ckpt_dir / "last.pt"
        kept = f"the last good checkpoint {last} is kept" if last.exists() else "no checkpoint had been written yet"
        raise PgtrainError(
            f"training diverged at env step {step:,}: {bad[0]}; likely cause: a learning rate too high "
            f"(algo.lr={self.cfg.algo.lr}) or exploding returns/gradients (try algo.max_grad_norm); {kept}"
        )

    # ------------------------------------------------------------------------------------------------------------------
    # Counters and summary

    def wall_time(self) -> float:
        return self.wall_offset + time.perf_counter() - self.t_start

    def sps(self) -> float:
        elapsed = time.perf_counter() - self.t_start
        return (self.collector.env_steps - self.steps_at_start) / elapsed if elapsed > 0 else 0.0

    def recent_return(self) -> float | None:
        """The final return so far (:func:`pgtrain.curves.final_return`: the last 100 episodes; DDPG's after warm-up)."""
        return final_return(self.returns)

    def summary(self) -> dict[str, Any]:
        wall = self.wall_time()
        return {
            "algo": self.cfg.algo.name,
            "env": self.cfg.env.name,
            "env_id": self.cfg.env.id,
            "seed": self.cfg.seed,
            "env_steps": self.collector.env_steps,
            "episodes": self.episodes,
            "updates": self.algo.updates,
            "wall_time_s": round(wall, 3),
            "steps_per_second": round(self.collector.env_steps / wall, 1) if wall > 0 else 0.0,
            "final_return": self.recent_return(),
            "final_return_episodes": min(len(self.returns), FINAL_WINDOW),  # how many episodes final_return averages
            "final_eval_return": self.last_eval,
            "solve_threshold": self.cfg.env.solve_threshold,
            "solve_window": self.cfg.env.solve_window,
            "solved": self.solved,
            "device": str(self.device),
        }

    # ------------------------------------------------------------------------------------------------------------------
    # Checkpoints

    def save(self, periodic: bool = False) -> None:
        """Write ``checkpoints/last.pt`` (and ``step_<n>.pt`` when periodic), each atomically."""
        collector_state = self.collector.state_dict()  # first: it finishes a step in flight, which counts env steps
        state = {
            "algo": self.cfg.algo.name,
            "env": self.cfg.env.name,
            "config": OmegaConf.to_container(self.raw_cfg, resolve=True, enum_to_str=True),
            "algo_state": self.algo.state_dict(),
            "counters": {
                "env_steps": self.collector.env_steps,
                "episodes": self.episodes,
                "wall_time_s": self.wall_time(),
                "next_checkpoint": float(self.checkpoint_due.next),
                "next_eval": float(self.eval_due.next),
                "returns": list(self.returns),
                "solved": self.solved,
                "last_eval": self.last_eval,
            },
            "rng": checkpoint.capture_rng(cuda=self.device.type == "cuda"),
            "collector_state": collector_state,  # a replay buffer when algo.save_buffer=true, else empty
            "normalization": self.normalization(),  # env.normalize_*: the statistics pgtrain-eval and videos use, frozen
        }
        self.logger.flush()  # what was logged up to the checkpoint is on the disk before it: a resume's curve has no gap
        if periodic:
            checkpoint.save(self.ckpt_dir / f"step_{self.collector.env_steps}.pt", state)
        checkpoint.save(self.ckpt_dir / "last.pt", state)
        files.write_text(self.run_dir / "summary.json", json.dumps(self.summary(), indent=2) + "\n")

    def _restore(self, state: dict[str, Any]) -> int:
        if state.get("algo") != self.cfg.algo.name or state.get("env") != self.cfg.env.name:
            raise PgtrainError(
                f"checkpoint is for algo={state.get('algo')} env={state.get('env')}, not algo={self.cfg.algo.name} env={self.cfg.env.name}"
            )
        try:
            self.algo.load_state_dict(state["algo_state"])
        except (KeyError, RuntimeError, ValueError) as ex:
            raise PgtrainError(f"checkpoint does not fit this run's networks: {str(ex).splitlines()[0]}") from None
        c = state["counters"]
        self.collector.env_steps = int(c["env_steps"])
        self.episodes = int(c["episodes"])
        self.wall_offset = float(c["wall_time_s"])
        # schedules follow the current intervals, which a resume may change (e.g. eval_interval from 0)
        self.eval_due, self.video_due, self.checkpoint_due = self._schedules(self.collector.env_steps)
        self.returns.extend(c["returns"])
        self.solved = c["solved"]
        self.last_eval = c["last_eval"]
        checkpoint.restore_rng(state["rng"], cuda=self.device.type == "cuda")
        # the running episodes continue exactly where the env state can be saved; elsewhere (Pong, async) fresh ones start
        self.collector.load_state_dict(state.get("collector_state", {}))
        return self.collector.env_steps

    def _schedules(self, step: int) -> tuple[Every, Every, Every]:
        """Evaluation, video and checkpoint schedules from env step ``step`` on."""
        cfg = self.cfg
        return Every(cfg.eval_interval, step), Every(cfg.video_interval, step), Every(cfg.checkpoint_interval, step)

    def _seed(self, seed: int) -> None:
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
