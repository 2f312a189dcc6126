"""The ``pgtrain`` command: compose the Hydra config, check it, hand it to the workspace. No training logic here.

Every user error leaves as one line, ``pgtrain: error: ...``, with exit status 2, before anything is written. So do a
run directory another process is writing (status 16, pgtrain.rundir) and a write that fails for lack of space
(status 28, pgtrain.files); docs/operations.md lists the exit statuses.

Start-up: this module imports Hydra and the schemas, never torch. A command is checked (composition, types, ranges,
algo x env) before torch loads, so ``--help`` and a refused command answer in a fraction of torch's import time; the
training path imports torch when the checks have passed. Ctrl-C at any point before the training loop takes over
(imports included) ends with one line and exit status 130, as the loop's own Ctrl-C does.
"""

from __future__ import annotations

import sys

try:  # Ctrl-C while these load: one line, not a traceback (the console script imports this module before main())
    import os
    import re
    import traceback
    from pathlib import Path
    from typing import Any

    import hydra
    from hydra.core.hydra_config import HydraConfig
    from hydra.errors import HydraException
    from hydra.experimental.callback import Callback
    from omegaconf import DictConfig, OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    from pgtrain import files, rundir
    from pgtrain.config import RUN_CONTROL_KEYS, one_line
    from pgtrain.configstore import register_configs, typed_config
    from pgtrain.errors import DiskFull, PgtrainError
    from pgtrain.files import SPACE_ERRNOS, lack_of_space
    from pgtrain.messages import check_overrides, explain, job_label, run_finished, run_started, sweep_finished, sweep_started

    try:
        register_configs()
    except PgtrainError as ex:  # an algorithm's module that does not declare it (pgtrain/algos/__init__.py)
        print(f"pgtrain: error: {ex}", file=sys.stderr)
        raise SystemExit(2) from None
    OmegaConf.register_new_resolver("pgtrain_groups", lambda: groups_help(), replace=True)  # --help's group listing
    # run directories named by the env id: ALE/Breakout-v5 -> ALE_Breakout-v5
    OmegaConf.register_new_resolver("path_safe", lambda text: re.sub(r"[^A-Za-z0-9._-]+", "_", str(text)), replace=True)
except KeyboardInterrupt:
    print("pgtrain: interrupted", file=sys.stderr)
    raise SystemExit(130) from None

CONFIG_DIR = str(Path(__file__).resolve().parent.parent / "configs")
NOT_CHOSEN = ("hydra", "tuned")  # configs/ folders that are not groups a user picks from (tuned files load by themselves)
PREEXISTING: set[Path] = set()  # run directories that existed (empty) before their run started: emptied, never removed


def groups_help() -> str:
    """``  algo:   reinforce | a2c | ...`` for each config group, from the files in configs/ (the default first): what
    ``pgtrain --help`` lists, so a new algorithm or env appears there as soon as its YAML exists."""
    import yaml

    root = Path(CONFIG_DIR)
    chosen: dict[str, str] = {}
    for entry in yaml.safe_load((root / "config.yaml").read_text())["defaults"]:
        if isinstance(entry, dict):
            chosen.update({str(k): str(v) for k, v in entry.items()})
    found = sorted(p.name for p in root.iterdir() if p.is_dir() and p.name not in NOT_CHOSEN and any(p.glob("*.yaml")))
    groups = [g for g in chosen if g in found] + [g for g in found if g not in chosen]  # config.yaml's order first
    width = max(map(len, groups)) + 1
    lines = []
    for group in groups:
        options = sorted(p.stem for p in (root / group).glob("*.yaml"))
        options.sort(key=lambda o: o != chosen.get(group))
        lines.append(f"  {group + ':':<{width}} {' | '.join(options)}")
    return "\n".join(lines)


class RunGuard(Callback):
    """Hydra callback that refuses bad configs and existing run directories before Hydra creates any file.

    Hydra turns exceptions raised in callbacks into warnings, so a refusal leaves through SystemExit.
    """

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        try:
            from pgtrain.checks import check  # here: --help never needs gymnasium

            check(config)  # without torch: a refused command never waits for it
            run_dir = Path(str(config.hydra.run.dir))
            _refuse_existing(run_dir)
            rundir.current = str(run_dir)
            if run_dir.exists():
                PREEXISTING.add(run_dir.resolve())
            from pgtrain.workspace import prepare

            prepare(config)  # the device, with torch
        except PgtrainError as ex:
            _fail(str(ex), ex.exit_status)
        except Exception:  # Hydra would turn it into a warning and create the run directory regardless
            traceback.print_exc()
            raise SystemExit(1) from None

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        try:
            _refuse_existing(Path(str(config.hydra.sweep.dir)))
            rundir.current = str(config.hydra.sweep.dir)
        except PgtrainError as ex:
            _fail(str(ex), ex.exit_status)
        print(sweep_started(Path(str(config.hydra.sweep.dir))), flush=True)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        print("\n".join(sweep_finished(Path(str(config.hydra.sweep.dir)))), flush=True)


def _refuse_existing(path: Path) -> None:
    rundir.refuse_if_held(path, "choose another directory")
    for job in sorted(path.iterdir()) if path.is_dir() else ():  # a sweep's jobs, one of them still running
        if job.is_dir():
            rundir.refuse_if_held(job, "choose another directory")
    if path.exists() and any(path.iterdir()):
        raise PgtrainError(
            f"{path} already exists and holds files; pgtrain never overwrites a run: choose another directory "
            f"(or continue that run with pgtrain resume={path})"
        )


@hydra.main(config_path=CONFIG_DIR, config_name="config", version_base="1.3")
def _train(cfg: DictConfig) -> float:
    from hydra.types import RunMode

    from pgtrain.workspace import Workspace

    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    single = hydra_cfg.mode != RunMode.MULTIRUN  # a sweep's jobs are listed when it ends (RunGuard.on_multirun_end)
    if single:
        print(run_started(run_dir), flush=True)
        label, slots = "", None
    else:
        label, slots = job_label(run_dir), str(run_dir.parent.resolve())
    try:
        try:
            workspace = Workspace(cfg, run_dir, label=label, slots=slots)
        except BaseException:  # a failed start leaves nothing behind: the new run's directory goes
            files.remove_new_dir(run_dir, keep_dir=run_dir.resolve() in PREEXISTING)
            raise
        summary = workspace.train()
    except PgtrainError as ex:  # leave here: an exception would make Hydra print its own "Error executing job" line
        _fail(str(ex), ex.exit_status)
    if single:
        print("\n".join(run_finished(summary, run_dir)), flush=True)
    # the value a sweeper (Optuna) optimises; no finished episode counts as the worst return: Optuna refuses NaN and
    # hydra-optuna-sweeper 1.3.0 then crashes the whole sweep ("Values cannot be specified when state is ... FAIL")
    return summary["final_return"] if summary["final_return"] is not None else float("-inf")


def resume(run_dir: Path, overrides: list[str]) -> None:
    """Continue ``run_dir`` in place from ``checkpoints/last.pt`` with the run's own config."""
    for override in overrides:
        key = override.split("=", 1)[0].lstrip("+")
        if key.split(".")[0] not in RUN_CONTROL_KEYS:  # everything else comes from the run's checkpoint
            raise PgtrainError(f"resume: {key} cannot change when resuming; allowed: {', '.join(RUN_CONTROL_KEYS)}")
    from pgtrain import checkpoint

    checkpoint.check_run_dir(run_dir)
    rundir.refuse_if_held(run_dir, f"wait for it to end or stop it, then pgtrain resume={run_dir}")  # before torch loads
    last = run_dir / "checkpoints" / "last.pt"
    state = checkpoint.load(last)
    checkpoint.check_belongs(state, run_dir, last)
    cfg = typed_config(state["config"])
    try:
        cfg.merge_with_dotlist(overrides)
    except OmegaConfBaseException as ex:
        raise PgtrainError(explain(ex) or one_line(str(ex))) from None
    done = int(state["counters"]["env_steps"])
    solved = state["counters"].get("solved")
    if cfg.stop_on_solve and solved:
        raise PgtrainError(
            f"{run_dir} already finished: solved at env step {solved['env_steps']:,} with stop_on_solve=true; "
            f"pass stop_on_solve=false to keep training, e.g. pgtrain resume={run_dir} stop_on_solve=false"
        )
    if done >= cfg.total_steps:
        raise PgtrainError(
            f"{run_dir} already finished: {done:,} env steps done of total_steps={cfg.total_steps:,}; "
            f"pass a larger budget to extend it, e.g. pgtrain resume={run_dir} total_steps={2 * max(done, 1)}"
        )
    from pgtrain.workspace import Workspace

    print(run_started(run_dir), flush=True)
    workspace = Workspace(cfg, run_dir, resume=True)
    checkpoint.record_resume(run_dir, cfg, overrides, done)
    print("\n".join(run_finished(workspace.train(), run_dir)), flush=True)


def print_help(overrides: list[str]) -> None:
    """``pgtrain --help [overrides]``: what Hydra prints for ``--help``, from the same template (configs/config.yaml,
    ``hydra.help``), with each option's meaning and source beside its value (:mod:`pgtrain.helptext`), in a fifth of
    the time. Hydra's own help fills every variable its templates may use, and two of
    them list all config groups, deep-copying the whole ConfigStore (the sweep plugins' schemas included) for each of
    about a hundred groups: 80% of its time, for lists this template does not show (it has ``${pgtrain_groups:}``)."""
    import string

    from hydra import compose, initialize_config_dir
    from omegaconf import open_dict

    from pgtrain.helptext import options_help

    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3", job_name="cli"):
        cfg = compose("config", overrides=overrides, return_hydra_config=True)
    template = cfg.hydra.help.template
    choices = {k: str(v) for k, v in cfg.hydra.runtime.choices.items() if v is not None}
    with open_dict(cfg):
        del cfg["hydra"]
    print(string.Template(template).substitute(CONFIG=options_help(cfg, Path(CONFIG_DIR), choices, overrides)))


def _hydra_message(ex: BaseException) -> str:
    parts = [str(ex)]
    if ex.__cause__ is not None and str(ex.__cause__) not in parts[0]:
        parts.append(str(ex.__cause__))
    return one_line("\n".join(parts))


def main() -> None:
    args = sys.argv[1:]
    try:
        args = sys.argv[1:] = check_overrides(args)  # Hydra reads sys.argv itself
    except PgtrainError as ex:
        _fail(str(ex))
    resume_args = [a for a in args if a.startswith("resume=")]
    try:
        if resume_args:
            rest = [a for a in args if not a.startswith("resume=")]
            resume(Path(resume_args[-1].split("=", 1)[1]), rest)
            return
        os.environ["HYDRA_FULL_ERROR"] = "1"  # let errors reach the handlers below instead of Hydra's report
        rest = [a for a in args if a not in ("--help", "-h")]
        if len(rest) < len(args) and not any(a.startswith("-") for a in rest):  # other flags: Hydra's own help
            print_help(rest)
            return
        _train()
    except PgtrainError as ex:
        _fail(str(ex), ex.exit_status)
    except (HydraException, OmegaConfBaseException) as ex:
        _fail(explain(ex) or f"{_hydra_message(ex)} (see pgtrain --help)")
    except KeyboardInterrupt:  # outside the training loop, whose own handler saves first (pgtrain.interrupts)
        print("pgtrain: interrupted", file=sys.stderr)
        raise SystemExit(130) from None
    except OSError as ex:
        if ex.errno not in SPACE_ERRNOS:  # pgtrain's own writes say so themselves; this is Hydra's (.hydra/)
            raise
        _fail(f"cannot write {ex.filename or rundir.current}: {lack_of_space(ex, '.')}", DiskFull.exit_status)
    except (MemoryError, RuntimeError) as ex:
        if not _out_of_resources(ex):
            raise
        # the estimates before the start (pgtrain.resources) are lower bounds: growth while training can still run out
        _fail(
            f"the machine ran out of {'threads' if 'thread' in str(ex) else 'memory'} during the run: "
            f"{one_line(str(ex)) or type(ex).__name__}; use smaller networks, buffers, batches or fewer envs "
            "(docs/operations.md, Limits)"
        )


def console() -> None:
    """The ``pgtrain`` console script: :func:`main`, then an exit without the interpreter's teardown (pgtrain.workarounds.exits)."""
    from pgtrain.workarounds.exits import run_and_exit

    run_and_exit(main)


def _out_of_resources(ex: BaseException) -> bool:
    """numpy's and Python's MemoryError, torch's allocators (CPU and CUDA) and a thread that cannot start."""
    if isinstance(ex, MemoryError) or type(ex).__name__ == "OutOfMemoryError":
        return True
    return any(s in str(ex) for s in ("can't allocate memory", "DefaultCPUAllocator", "out of memory", "can't start new thread"))


def _fail(message: str, status: int = PgtrainError.exit_status) -> None:
    print(f"pgtrain: error: {message}", file=sys.stderr)
    raise SystemExit(status)


if __name__ == "__main__":
    console()
