"""Result files: one JSON file per benchmark run under ``benchmarks/results/``, named ``<task>_<date>.json``.

Every benchmark script in ``scripts/`` writes its run through :func:`write`, so every file holds the same envelope:

    task        the task's name, e.g. ``cartpole-ppo`` (env, then algorithm)
    title       a short title for tables, e.g. ``PPO, CartPole-v1``
    kind        ``solve`` (seeds run to a threshold), ``budget`` (a fixed number of env steps), ``pong-learning``,
                ``throughput``, ``startup`` or ``envs``
    command     the exact command that produced the file
    commit      the git commit it ran on (``null`` where not recorded), ``+dirty`` when the tree had changes
    date        the day of the run (UTC), ``YYYY-MM-DD``
    machine     cpu, cores, vector_extensions (e.g. ``["AVX2", "AVX-512"]``), memory_gib, gpu, os, python
    versions    package -> version
    protocol    the settings that change the task: env id, sticky actions, frame skip, reward clipping, solve threshold
                and window, budget, evaluation episodes
    seeds       pgtrain's figures, one dict per seed
    peer        the peer's name, settings and per-seed figures from the same run, or ``null``
    notes       one line on anything the figures hold only under (``null`` when none)

Files converted from the earlier reports in docs/ add ``recorded_in``: the file that held the figures and its last
commit; their ``commit`` is the one the run named, or ``null`` where it named none.

Kinds add their own figures beside these keys. This module imports neither pgtrain nor torch, so it describes the
machine the same way for every script.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import re
import shutil
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "benchmarks" / "results"
PACKAGES = ("pgtrain", "torch", "gymnasium", "ale-py", "numpy", "numba", "mujoco", "box2d", "hydra-core",
            "stable-baselines3", "tianshou")  # fmt: skip
ENVELOPE = ("task", "title", "kind", "command", "commit", "date", "machine", "versions", "protocol", "seeds", "peer", "notes")
_FLAGS = {"avx2": "AVX2", "avx512f": "AVX-512"}


def _lscpu() -> dict[str, str]:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    return {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in out.splitlines()) if v}


def _gpu() -> str | None:
    if shutil.which("nvidia-smi") is None:
        return None
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    names = [line.strip() for line in out.stdout.splitlines() if line.strip()]
    return ", ".join(names) or None


def machine() -> dict[str, Any]:
    """The machine this process runs on: CPU model and logical cores (lscpu, else platform), its AVX2 / AVX-512
    support, memory, GPU (nvidia-smi), OS and Python."""
    info = _lscpu()
    flags = set(info.get("Flags", "").split())
    if not flags:
        try:
            flags = set(next(ln for ln in Path("/proc/cpuinfo").read_text().splitlines() if ln.startswith("flags")).split())
        except (OSError, StopIteration):
            flags = set()
    memory = None
    try:
        memory = round(int(Path("/proc/meminfo").read_text().split("MemTotal:")[1].split()[0]) / 2**20)
    except (OSError, IndexError, ValueError):
        pass
    return {
        "cpu": info.get("Model name") or platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "vector_extensions": [name for flag, name in _FLAGS.items() if flag in flags] if flags else None,
        "memory_gib": memory,
        "gpu": _gpu(),
        "os": platform.platform(),
        "python": platform.python_version(),
    }


def versions(packages: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    """Installed versions of the packages a benchmark depends on (those not installed are left out)."""
    found = {}
    for pkg in packages:
        try:
            found[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            continue
    return found


def commit() -> str | None:
    """The checkout's short commit id, with ``+dirty`` when tracked files differ from it; None outside git."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True, text=True,
                               timeout=10)  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    sha = head.stdout.strip()
    if head.returncode != 0 or not sha:
        return None
    return sha + ("+dirty" if dirty.stdout.strip() else "")


def today() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d")


def free_path(directory: Path, task: str, date: str) -> Path:
    """``<task>_<date>.json`` in ``directory``, or ``<task>_<date>_2.json`` (3, ...) when a run of that task on that date
    is already there."""
    path = directory / f"{task}_{date}.json"
    n = 2
    while path.exists():
        path = directory / f"{task}_{date}_{n}.json"
        n += 1
    return path


def record(task: str, title: str, kind: str, command: str, protocol: dict[str, Any], seeds: list[dict[str, Any]],
           peer: dict[str, Any] | None = None, notes: str | None = None, **figures: Any) -> dict[str, Any]:  # fmt: skip
    """A result record of this machine, commit and date; ``figures`` are the kind's own keys beside the envelope."""
    clash = sorted(set(figures) & set(ENVELOPE))
    if clash:
        raise ValueError(f"figures may not reuse the envelope's keys: {clash}")
    return {
        "task": task,
        "title": title,
        "kind": kind,
        "command": command,
        "commit": commit(),
        "date": today(),
        "machine": machine(),
        "versions": versions(),
        "protocol": protocol,
        "seeds": seeds,
        "peer": peer,
        "notes": notes,
        **figures,
    }


def write(rec: dict[str, Any], dest: Path | None = None) -> Path:
    """Write ``rec`` as JSON: to ``dest`` when it names a file, else as ``<task>_<date>.json`` (a free name) in ``dest``
    when it is a directory, or in benchmarks/results/ when it is None. Returns the path written."""
    if dest is None or dest.is_dir() or dest.suffix != ".json":
        directory = RESULTS_DIR if dest is None else dest
        directory.mkdir(parents=True, exist_ok=True)
        dest = free_path(directory, rec["task"], rec["date"])
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".tmp")
    tmp.write_text(json.dumps(rec, indent=1, ensure_ascii=False) + "\n")
    tmp.replace(dest)
    return dest


def load_all(directory: Path = RESULTS_DIR) -> dict[str, dict[str, Any]]:
    """Every result file in ``directory``: file stem -> record, in name order."""
    return {p.stem: json.loads(p.read_text()) for p in sorted(directory.glob("*.json"))}


NAME = re.compile(r"^(?P<task>[a-z0-9][a-z0-9-]*)_(?P<date>\d{4}-\d{2}-\d{2})(_(?P<n>\d+))?$")
