"""What a run will take from the machine, estimated before anything is allocated or written.

:func:`check` runs in :func:`pgtrain.workspace.prepare`, which the CLI calls before Hydra creates the run directory, so a
run that cannot fit is refused with one line and nothing is left behind:

- **the budget**: a single batch larger than ``total_steps`` (a vector step of ``algo.num_envs`` envs, A2C's
  ``num_envs x n_steps`` rollout, REINFORCE's ``episodes_per_update`` episodes of one step at least) could never be
  collected within it, and a replay buffer that must hold ``max(learning_starts, batch_size)`` transitions before the
  first update would never get there (a run whose episodes outlast the budget still says so at the end);
- **threads**: ``device.torch_threads`` (torch starts about two OS threads per intra-op thread), the Pong emulators'
  ``env.num_threads`` and the worker processes of ``env.vectorization=async`` against what the kernel lets this
  process start (``pid_max``, ``threads-max``, ``RLIMIT_NPROC``, a cgroup's ``pids.max``, less what already runs);
- **memory**: network parameters, gradients and optimiser state (the networks are built on torch's ``meta`` device:
  shapes, no storage), the update's activations, the replay buffer, rollout and episode storage, the envs and their
  frame buffers, against the memory available (``MemAvailable``, a cgroup's limit, ``RLIMIT_AS``; the environment
  variable ``PGTRAIN_MEMORY_LIMIT``, e.g. ``2G``, caps it further). Estimates are lower bounds of what is allocated up
  front: growth while training (longer episodes, TensorBoard, the allocator's slack) comes on top.

:func:`disk_warnings` returns one line for settings that would write thousands of files (``checkpoint_interval``,
``video_interval``); those runs go on.

Everything here reads ``/proc`` and ``/sys``, builds shapes on the meta device and makes one classic-control env for
its spaces; nothing sizeable is allocated, nothing is written.
"""

from __future__ import annotations

import os
import re
import resource
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from pgtrain.config import DeviceName
from pgtrain.errors import PgtrainError

MEMORY_LIMIT_ENV = "PGTRAIN_MEMORY_LIMIT"  # caps the memory counted as available: 2G, 512M, 1.5GiB or plain bytes
MANY_FILES = 1_000  # a setting that would write at least this many files gets a warning line
PID_MAX_LIMIT = 4 * 1024 * 1024  # Linux's ceiling on pid_max (PID_MAX_LIMIT): no machine starts more threads

# Per-env costs (resident memory, measured on Linux x86-64 with gymnasium 1.x and ale-py 0.11; see docs/operations.md)
VECTOR_ENV_BYTES = 256  # a numpy-vectorised env (CartPole's vector_entry_point): ~125 B of state
SYNC_ENV_BYTES = 8 * 1024  # a gymnasium env object in a SyncVectorEnv (Pendulum: ~7 KB)
WORKER_BYTES = 32 * 1024 * 1024  # a forked AsyncVectorEnv worker process (4 MB private at start, ~40 MB proportional)
EMULATOR_BYTES = 2 * 1024 * 1024  # an ALE Pong emulator with its frame buffers (1-2 MB measured)
THREADS_PER_TORCH_THREAD = 2  # torch.set_num_threads(n) then one matmul: 2n OS threads (OpenMP and torch's pool)
EPISODE_ROWS = 1024  # REINFORCE's episode storage starts with this many rows per env (pgtrain.collectors)
ACT_BYTES_DISCRETE = 8  # int64


@dataclass(frozen=True)
class Need:
    """One allocation of a run: ``nbytes`` for ``what``, driven mostly by the config key ``key`` (shown as ``key=value``)."""

    what: str
    key: str
    value: Any
    nbytes: int
    device: str = "cpu"  # cpu, or cuda for the networks of a run on the GPU


# ----------------------------------------------------------------------------------------------------------------------
# The entry points


def check(cfg: Any) -> None:
    """Refuse, with a :class:`PgtrainError`, a run whose batch exceeds its budget, whose threads or processes the
    machine cannot start, or whose memory estimate exceeds the memory available."""
    check_budget(cfg)
    check_threads(cfg)
    check_memory(cfg)


def check_budget(cfg: Any) -> None:
    """A single batch must fit in ``total_steps`` (0 = build and save, collect nothing: nothing to check)."""
    total, algo = cfg.total_steps, cfg.algo
    if total <= 0:
        return
    if algo.num_envs > total:
        raise PgtrainError(
            f"algo.num_envs={algo.num_envs}: one vector step is {algo.num_envs:,} env steps, more than the whole budget "
            f"total_steps={total:,}; use fewer envs or a larger total_steps"
        )
    if _rollouts(algo) and algo.num_envs * algo.n_steps > total:
        raise PgtrainError(
            f"algo.n_steps={algo.n_steps} x algo.num_envs={algo.num_envs}: one rollout is {algo.num_envs * algo.n_steps:,} "
            f"env steps, more than the whole budget total_steps={total:,}; lower algo.n_steps or raise total_steps"
        )
    if _episodes(algo) and algo.episodes_per_update > total:
        raise PgtrainError(
            f"algo.episodes_per_update={algo.episodes_per_update}: one batch needs at least {algo.episodes_per_update:,} env "
            f"steps (an episode has one at least), more than the whole budget total_steps={total:,}"
        )
    if _replay(algo):
        key, value = max(
            [("algo.learning_starts", algo.learning_starts), ("algo.batch_size", algo.batch_size)], key=lambda kv: kv[1]
        )  # the replay collector's first minibatch (pgtrain.collectors.replay), unless the buffer is smaller
        if algo.buffer_size < value:
            key, value = "algo.buffer_size", algo.buffer_size
        if total < value:
            raise PgtrainError(f"total_steps={total} is below {key}={value}: no update would run; raise total_steps or lower {key}")


def check_threads(cfg: Any) -> None:
    """Threads and processes the run starts, against what this process may still start."""
    room, source = threads_startable()
    torch_key, torch_threads = max(
        [("device.torch_threads", cfg.device.torch_threads), ("device.update_threads", cfg.device.update_threads)],
        key=lambda kv: kv[1],
    )
    wanted = [(torch_key, torch_threads, THREADS_PER_TORCH_THREAD * torch_threads)]
    if cfg.env.name == "pong" and getattr(cfg.env, "backend", "") == "ale_vector":
        # ale-py starts min(num_threads, num_envs) emulator threads (0 = one per core); a count past the machine's room
        # is refused even so: it asks for what cannot start (and past a C int, ale-py's bindings raise)
        asked = cfg.env.num_threads
        emulators = min(asked or os.cpu_count() or 1, cfg.algo.num_envs)
        wanted.append(("env.num_threads", asked, asked if asked > room else emulators))
    if cfg.env.vectorization == "async" and not (cfg.env.name == "pong" and getattr(cfg.env, "backend", "") == "ale_vector"):
        wanted.append(("algo.num_envs", cfg.algo.num_envs, cfg.algo.num_envs))  # one worker process per env
    total = sum(n for _, _, n in wanted)
    if total > room:
        key, value, n = max(wanted, key=lambda w: w[2])
        raise PgtrainError(
            f"{key}={value} would start about {n:,} threads or processes ({total:,} in all), but this machine lets "
            f"pgtrain start {max(room, 0):,} more ({source}); lower {key}"
        )


def check_memory(cfg: Any) -> None:
    """The memory estimate against the memory available; on a GPU run the networks are checked against its free memory."""
    available = memory_available()
    _refuse_if_short(storage_needs(cfg, *_obs_act_bytes(cfg.env)), *available)  # before any space or network is built
    obs_space, act_space = spaces(cfg.env)
    needs = memory_needs(cfg, obs_space, act_space)
    host = [n for n in needs if n.device == "cpu"]
    _refuse_if_short(host, *available)
    gpu = [n for n in needs if n.device == "cuda"]
    if gpu and torch.cuda.is_available():
        free, _ = torch.cuda.mem_get_info()
        _refuse_if_short(gpu, free, "free GPU memory")


def disk_warnings(cfg: Any, start_step: int = 0) -> list[str]:
    """One line for each setting that would write ``MANY_FILES`` files or more between ``start_step`` and ``total_steps``."""
    out = []
    left = max(cfg.total_steps - start_step, 0)
    per_loop = _steps_per_loop(cfg)  # schedules are checked once per collected batch: no more often than that
    checkpoint_size = None
    for key, what in (
        ("checkpoint_interval", "checkpoints checkpoints/step_<n>.pt"),
        ("video_interval", "videos videos/train_step_<n>.mp4"),
    ):
        interval = getattr(cfg, key)
        if interval <= 0:
            continue
        count = left // max(interval, per_loop)
        if count < MANY_FILES:
            continue
        size = ""
        if key == "checkpoint_interval":
            if checkpoint_size is None:
                checkpoint_size = _checkpoint_bytes(cfg)
            size = f" of about {human(checkpoint_size)} each, {human(count * checkpoint_size)} in all"
        out.append(
            f"{key}={interval} with total_steps={cfg.total_steps:,} writes up to {count:,} {what}{size}; "
            f"running anyway (a larger {key} writes fewer)"
        )
    return out


# ----------------------------------------------------------------------------------------------------------------------
# The machine


def parse_bytes(text: str) -> int:
    """``"2G"``, ``"512M"``, ``"1.5GiB"``, ``"100k"``, ``"123456"`` -> bytes (powers of 1024)."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kmgtp]?)(i?b)?\s*", str(text), re.IGNORECASE)
    if not match:
        raise PgtrainError(f"{MEMORY_LIMIT_ENV}={text!r}: give bytes, or a number with K, M, G or T (e.g. 2G)")
    scale = 1024 ** ("kmgtp".index(match.group(2).lower()) + 1) if match.group(2) else 1
    return int(float(match.group(1)) * scale)


def memory_available() -> tuple[int, str]:
    """Bytes this process can still allocate, and where the figure comes from: the smallest of ``MemAvailable``, the
    cgroup's limit less its usage, ``RLIMIT_AS`` less the address space in use, and ``PGTRAIN_MEMORY_LIMIT``."""
    found: list[tuple[int, str]] = []
    meminfo = _read("/proc/meminfo")
    match = re.search(r"^MemAvailable:\s+(\d+) kB", meminfo or "", re.MULTILINE)
    if match:
        found.append((int(match.group(1)) * 1024, "MemAvailable in /proc/meminfo"))
    else:
        try:
            found.append((os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"), "free physical pages"))
        except (ValueError, OSError):
            pass
    for limit_file, usage_file in _cgroup_memory_files():
        limit, usage = _read_int(limit_file), _read_int(usage_file)
        if limit is not None and limit < 2**60:
            found.append((limit - (usage or 0), f"cgroup limit {limit_file}"))
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft != resource.RLIM_INFINITY:
        vm = re.search(r"^VmSize:\s+(\d+) kB", _read("/proc/self/status") or "", re.MULTILINE)
        found.append((soft - (int(vm.group(1)) * 1024 if vm else 0), "RLIMIT_AS (ulimit -v)"))
    if os.environ.get(MEMORY_LIMIT_ENV):
        found.append((parse_bytes(os.environ[MEMORY_LIMIT_ENV]), MEMORY_LIMIT_ENV))
    if not found:
        return 2**62, "no limit found"
    return min(found)


def threads_startable() -> tuple[int, str]:
    """How many more threads (or processes) this process may start, and the limit that decides it."""
    running = _tasks_running()
    found: list[tuple[int, str]] = [(PID_MAX_LIMIT - running, "Linux's PID_MAX_LIMIT")]
    for path in ("/proc/sys/kernel/pid_max", "/proc/sys/kernel/threads-max"):
        limit = _read_int(path)
        if limit is not None:
            found.append((limit - running, path))
    soft, _ = resource.getrlimit(resource.RLIMIT_NPROC)
    if soft != resource.RLIM_INFINITY and os.geteuid() != 0:  # root is not held to RLIMIT_NPROC
        found.append((soft - running, "RLIMIT_NPROC (ulimit -u)"))
    for limit_file, current_file in _cgroup_pids_files():
        limit, current = _read_int(limit_file), _read_int(current_file)
        if limit is not None:
            found.append((limit - (current or 0), f"cgroup limit {limit_file}"))
    return min(found)


def _tasks_running() -> int:
    """Threads on the machine now (the second number of ``/proc/loadavg``'s ``running/total``)."""
    parts = (_read("/proc/loadavg") or "").split()
    try:
        return int(parts[3].split("/")[1])
    except (IndexError, ValueError):
        return 0


def _cgroup_dirs(controller: str) -> list[Path]:
    """This process's cgroup directories for ``controller``: cgroup v2's unified one and v1's."""
    dirs = []
    for line in (_read("/proc/self/cgroup") or "").splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if controllers == "":
            dirs += [Path("/sys/fs/cgroup") / path.lstrip("/"), Path("/sys/fs/cgroup")]
        elif controller in controllers.split(","):
            dirs += [Path("/sys/fs/cgroup") / controller / path.lstrip("/"), Path("/sys/fs/cgroup") / controller]
    return list(dict.fromkeys(dirs))


def _cgroup_memory_files() -> list[tuple[Path, Path]]:
    out = []
    for d in _cgroup_dirs("memory"):
        for limit, usage in (("memory.max", "memory.current"), ("memory.limit_in_bytes", "memory.usage_in_bytes")):
            if (d / limit).is_file():
                out.append((d / limit, d / usage))
    return out


def _cgroup_pids_files() -> list[tuple[Path, Path]]:
    return [(d / "pids.max", d / "pids.current") for d in _cgroup_dirs("pids") if (d / "pids.max").is_file()]


def _read(path: str | Path) -> str | None:
    try:
        return Path(path).read_text()
    except OSError:
        return None


def _read_int(path: str | Path) -> int | None:
    text = (_read(path) or "").strip()
    return int(text) if text.isdigit() else None  # "max" (no limit) and unreadable files: None


def human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if abs(n) < 1024 or unit == "PB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PB"


# ----------------------------------------------------------------------------------------------------------------------
# The run


def spaces(env_cfg: Any) -> tuple[gym.Space, gym.Space]:
    """The env's single observation and action spaces without starting it: Pong's from its config, others' from one
    ``gym.make`` (classic-control envs build in microseconds and allocate nothing to speak of)."""
    if env_cfg.name == "pong":
        from pgtrain.envs.pong import lecture_space
        from pgtrain.envs.specs import STACK_SIZE

        if env_cfg.preprocess == "stack":
            obs: gym.Space = gym.spaces.Box(0, 255, (env_cfg.frame_stack, STACK_SIZE, STACK_SIZE), np.uint8)
        else:
            obs = lecture_space()
        return obs, gym.spaces.Discrete(2 if env_cfg.action_set == "updown" else 6)
    if env_cfg.name == "atari":  # AtariVectorEnv's frame stacks; at most ALE's 18 actions
        from pgtrain.envs.specs import STACK_SIZE

        return gym.spaces.Box(0, 255, (env_cfg.frame_stack, STACK_SIZE, STACK_SIZE), np.uint8), gym.spaces.Discrete(18)
    from pgtrain.envs.specs import env_spaces  # one env made per id and kwargs (the config check made it already)

    try:
        return env_spaces(env_cfg)
    except PgtrainError:
        raise
    except Exception as ex:  # gymnasium raises several types for an unknown or broken id
        raise PgtrainError(f"cannot make env {env_cfg.id!r}: {str(ex).splitlines()[0] if str(ex) else type(ex).__name__}") from None


def _obs_act_bytes(env_cfg: Any) -> tuple[int, int]:
    """Bytes of one observation and one action (Pong's by arithmetic: a frame stack may be too large to describe)."""
    if env_cfg.name == "pong":
        from pgtrain.envs.pong import FRAME_SIZE
        from pgtrain.envs.specs import STACK_SIZE

        obs = env_cfg.frame_stack * STACK_SIZE * STACK_SIZE if env_cfg.preprocess == "stack" else FRAME_SIZE
        return obs, ACT_BYTES_DISCRETE
    obs_space, act_space = spaces(env_cfg)
    return _nbytes(obs_space), _nbytes(act_space, np.float32)


# What an algorithm collects, from its options (an algorithm added later with the same options is estimated alike)
def _rollouts(algo: Any) -> bool:
    return hasattr(algo, "n_steps")


def _episodes(algo: Any) -> bool:
    return hasattr(algo, "episodes_per_update")


def _replay(algo: Any) -> bool:
    return hasattr(algo, "buffer_size")


def _nbytes(space: gym.Space, dtype: Any = None) -> int:
    if isinstance(space, gym.spaces.Discrete):
        return ACT_BYTES_DISCRETE
    return int(np.prod(space.shape or ())) * np.dtype(dtype or space.dtype).itemsize


def networks(algo: Any, obs_space: gym.Space, act_space: gym.Space) -> tuple[list[nn.Module], list[nn.Module]]:
    """The algorithm's networks built on the meta device (shapes only): ``(trained, frozen)``; frozen = target copies."""
    from pgtrain.algos import algo_class
    from pgtrain.nets import DeterministicActor, Policy, ValueNet

    with torch.device("meta"):
        if _replay(algo):
            actor = DeterministicActor(obs_space, act_space, algo.hidden_sizes, algo.activation)
            critic = algo_class(algo.name).critic_class(obs_space, act_space, algo.hidden_sizes, algo.activation)
            return [actor, critic], [actor, critic]  # the targets are copies (SAC has no target actor: an upper bound)
        policy = Policy(obs_space, act_space, algo.network, algo.hidden_sizes, algo.activation, algo.discrete_head)
        trained: list[nn.Module] = [policy]
        if hasattr(algo, "shared_network"):  # an actor-critic
            trained.append(
                nn.Linear(policy.head.in_features, 1)
                if algo.shared_network
                else ValueNet(obs_space, algo.network, algo.hidden_sizes, algo.activation)
            )
        elif getattr(getattr(algo, "baseline", None), "value", None) == "value":
            trained.append(ValueNet(obs_space, algo.network, algo.hidden_sizes, algo.activation))
        return trained, []


def _count(modules: Sequence[nn.Module]) -> int:
    return sum(p.numel() for m in modules for p in m.parameters())


def _optimizer_slots(name: Any) -> int:
    """Tensors of parameter size an optimiser keeps: Adam two moments, RMSprop one, plain SGD none."""
    return {"adam": 2, "rmsprop": 1}.get(getattr(name, "value", name), 0)


def _activation_width(algo: Any, obs_space: gym.Space) -> int:
    """Activations per sample of one torso's forward pass (hidden layers, or the CNN's feature maps)."""
    if getattr(algo, "network", "mlp") != "cnn":  # the replay algorithms have MLPs only
        return int(sum(algo.hidden_sizes))
    from pgtrain.nets import torso

    with torch.device("meta"):
        net, _ = torso(obs_space, "cnn", algo.hidden_sizes, algo.activation)
        shape = obs_space.shape or ()
        x = torch.empty((1, *shape), dtype=torch.float32)
        width = 0

        def hook(_module: nn.Module, _inputs: Any, output: torch.Tensor) -> None:
            nonlocal width
            width += output.numel()

        handles = [m.register_forward_hook(hook) for m in net.modules() if not list(m.children())]
        try:
            net(x)
        finally:
            for h in handles:
                h.remove()
        return width


def _env_bytes(env_cfg: Any, n: int) -> int:
    """Resident memory of ``n`` envs of ``env_cfg`` and their observation buffers."""
    if env_cfg.name == "pong":
        frame = 210 * 160 * 3 if env_cfg.preprocess == "lecture" else 2 * env_cfg.frame_stack * 84 * 84
        per_env = EMULATOR_BYTES + frame
        if env_cfg.backend == "gymnasium" and env_cfg.vectorization == "async":
            per_env += WORKER_BYTES
        return n * per_env
    per_env = {"vector_entry_point": VECTOR_ENV_BYTES, "sync": SYNC_ENV_BYTES}.get(env_cfg.vectorization, WORKER_BYTES + SYNC_ENV_BYTES)
    return n * per_env


def memory_needs(cfg: Any, obs_space: gym.Space, act_space: gym.Space) -> list[Need]:
    """Every sizeable allocation of the run, as :class:`Need` s."""
    algo, n = cfg.algo, cfg.algo.num_envs
    obs_b = _nbytes(obs_space)
    act_b = _nbytes(act_space, np.float32)
    needs: list[Need] = []

    # networks: parameters (online and target), gradients and optimiser state; then the update's activations
    try:
        trained, frozen = networks(algo, obs_space, act_space)
    except (RuntimeError, ValueError, OverflowError) as ex:  # shapes beyond what torch can even describe
        raise PgtrainError(
            f"algo.hidden_sizes={list(algo.hidden_sizes)}: networks of these sizes cannot be built: {str(ex).splitlines()[0]}"
        ) from None
    p_trained, p_frozen = _count(trained), _count(frozen)
    net_bytes = 4 * (p_trained * (2 + _optimizer_slots(algo.optimizer)) + p_frozen)

    device = resolve_device(cfg.device).type
    optim = getattr(algo.optimizer, "value", algo.optimizer)
    needs.append(
        Need(
            f"{p_trained + p_frozen:,} network parameters with their gradients and {optim} state",
            "algo.hidden_sizes",
            list(algo.hidden_sizes),
            net_bytes,
            device,
        )
    )
    if _rollouts(algo):
        rows, row_key = n * (algo.n_steps + 1), "algo.n_steps"  # the rollout and the bootstrap observations
    elif _replay(algo):
        rows, row_key = 2 * algo.batch_size, "algo.batch_size"  # s and s' of a minibatch
    else:
        rows, row_key = max(n, getattr(algo, "episodes_per_update", 1)), "algo.num_envs"  # a batch has one step per episode at least
    act_bytes = 4 * 2 * len(trained) * rows * _activation_width(algo, obs_space)  # each torso's outputs and gradients
    needs.append(Need("the update's activations", row_key, getattr(algo, row_key.split(".")[1]), act_bytes, device))

    return needs + storage_needs(cfg, obs_b, act_b)


def storage_needs(cfg: Any, obs_b: int, act_b: int) -> list[Need]:
    """Collected data and the envs: replay buffer, rollout or episode storage, emulators and frame buffers, from the
    bytes of one observation ``obs_b`` and one action ``act_b`` (no space or network needed)."""
    algo, env = cfg.algo, cfg.env
    n = algo.num_envs
    needs: list[Need] = []
    if _replay(algo):
        transition = 2 * obs_b + act_b + 4 + 4
        needs.append(
            Need(f"the replay buffer, {transition} bytes a transition", "algo.buffer_size", algo.buffer_size, algo.buffer_size * transition)
        )
        if algo.save_buffer:  # a checkpoint holds a copy of the stored rows while it is written
            stored = min(algo.buffer_size, max(cfg.total_steps, 1))
            needs.append(Need("the replay buffer's copy in a checkpoint", "algo.save_buffer", True, stored * transition))
    elif _rollouts(algo):
        transition = 2 * obs_b + act_b + 4 + 3
        needs.append(
            Need("rollout storage, the steps and their stacked copy", "algo.n_steps", algo.n_steps, 2 * algo.n_steps * n * transition)
        )
    else:
        needs.append(Need("episode storage", "algo.num_envs", n, EPISODE_ROWS * n * (obs_b + act_b + 4)))

    # the envs: emulators, env objects, worker processes, observation buffers; evaluation envs beside them
    needs.append(Need("the envs and their frame buffers", "algo.num_envs", n, _env_bytes(env, n) + 2 * n * obs_b))
    if env.name == "pong" and env.preprocess == "stack" and env.frame_stack > 4:  # more frames than the Atari protocol's
        needs[-2:] = [replace(need, key="env.frame_stack", value=env.frame_stack) for need in needs[-2:]]
    if cfg.eval_interval > 0:
        needs.append(
            Need(
                "the evaluation envs, one per episode",
                "eval_episodes",
                cfg.eval_episodes,
                _env_bytes(env, cfg.eval_episodes) + 2 * cfg.eval_episodes * obs_b,
            )
        )
    return needs


def _refuse_if_short(needs: list[Need], available: int, source: str) -> None:
    total = sum(n.nbytes for n in needs)
    if total <= available:
        return
    top = max(needs, key=lambda n: n.nbytes)
    where = " of GPU memory" if top.device == "cuda" and "GPU" in source else " of memory"
    raise PgtrainError(
        f"this run needs at least {human(total)}{where}, {human(top.nbytes)} of it for {top.what} "
        f"({top.key}={top.value}), but {human(max(available, 0))} is available ({source}); lower {top.key}"
    )


def _steps_per_loop(cfg: Any) -> int:
    algo = cfg.algo
    if _rollouts(algo):
        return max(algo.num_envs * algo.n_steps, 1)
    if _episodes(algo):
        return max(algo.num_envs, algo.episodes_per_update, 1)
    return max(algo.num_envs, 1)


def _checkpoint_bytes(cfg: Any) -> int:
    """A checkpoint's size: parameters and optimiser state (no gradients), and the replay buffer when it is saved."""
    try:
        obs_space, act_space = spaces(cfg.env)
        trained, frozen = networks(cfg.algo, obs_space, act_space)
    except PgtrainError:
        return 0
    size = 4 * (_count(trained) * (1 + _optimizer_slots(cfg.algo.optimizer)) + _count(frozen))
    if _replay(cfg.algo) and cfg.algo.save_buffer:
        stored = min(cfg.algo.buffer_size, max(cfg.total_steps, 1))
        size += stored * (2 * _nbytes(obs_space) + _nbytes(act_space, np.float32) + 8)
    return size


def resolve_device(cfg: Any) -> torch.device:
    """auto = cuda when present, else cpu; cuda without a GPU is an error."""
    if cfg.name == DeviceName.cuda and not torch.cuda.is_available():
        raise PgtrainError("device=cuda but torch sees no CUDA GPU here; use device=auto or device=cpu")
    if cfg.name == DeviceName.cpu or not torch.cuda.is_available():
        return torch.device("cpu")
    return torch.device("cuda")
