"""What flushing a checkpoint to the disk costs: a run's checkpoint (``checkpoints/last.pt`` and ``summary.json``, as
``Workspace.save`` writes them) saved repeatedly with the flushes (fsync of each file before its rename, of the
directory after) and without them, side by side.

The saves alternate in rounds (a round with, a round without), so load on the machine hits both alike. Each case is a
fresh run of pgtrain's own Workspace, built from the config of ``pgtrain ARGS`` and saved as training saves it.

    python scripts/bench_checkpoint.py                                   # CartPole and Pong, 50 saves each way
    python scripts/bench_checkpoint.py --saves 10 --dir /mnt/nfs/tmp     # on another file system
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hydra import compose, initialize_config_dir

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pgtrain import files  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import results  # noqa: E402

from pgtrain.cli import CONFIG_DIR  # noqa: E402

CASES = {  # name -> pgtrain overrides
    "cartpole": ["algo=reinforce", "env=cartpole"],
    "pong": ["algo=reinforce", "env=pong"],
}


def time_saves(overrides: list[str], saves: int, rounds: int, where: Path) -> dict[str, object]:
    """Per-save wall times (ms) of ``Workspace.save`` with and without the flushes, alternating in ``rounds`` rounds."""
    from pgtrain.workspace import Workspace

    with initialize_config_dir(CONFIG_DIR, version_base="1.3"):
        cfg = compose("config", overrides=[*overrides, "progress=false", "eval_interval=0"])
    run = Path(tempfile.mkdtemp(prefix="bench-checkpoint-", dir=where))
    ws = Workspace(cfg, run)
    ws.t_start = time.perf_counter()  # what train() sets before any save
    times: dict[bool, list[float]] = {True: [], False: []}
    try:
        ws.save()  # first save outside the timing: directories created, pages warm
        per_round = max(1, saves // rounds)
        while len(times[False]) < saves:
            for sync in (True, False):
                files.SYNC = sync
                for _ in range(min(per_round, saves - len(times[sync]))):
                    start = time.perf_counter()
                    ws.save()
                    times[sync].append(1000 * (time.perf_counter() - start))
        size = (run / "checkpoints" / "last.pt").stat().st_size
    finally:
        files.SYNC = True
        ws.logger.close()
        ws.collector.close()
        shutil.rmtree(run)
    return {
        "checkpoint_bytes": size,
        "saves_each_way": saves,
        "with_fsync_ms": _stats(times[True]),
        "without_fsync_ms": _stats(times[False]),
        "added_ms_median": round(statistics.median(times[True]) - statistics.median(times[False]), 2),
    }


def _stats(ms: list[float]) -> dict[str, float]:
    ordered = sorted(ms)
    return {
        "median": round(statistics.median(ms), 2),
        "mean": round(statistics.mean(ms), 2),
        "p90": round(ordered[int(0.9 * (len(ordered) - 1))], 2),
        "min": round(ordered[0], 2),
        "max": round(ordered[-1], 2),
    }


def file_system(where: Path) -> dict[str, str]:
    """The file system the runs are written to: its type, device and mount point."""
    mount = subprocess.run(["findmnt", "-n", "-o", "FSTYPE,SOURCE,TARGET", "--target", str(where)], capture_output=True, text=True)
    fstype, source, target = (mount.stdout.split() + ["?", "?", "?"])[:3]
    return {"file_system": fstype, "device": source, "mount_point": target}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--saves", type=int, default=50, help="saves each way per case (default: 50)")
    p.add_argument("--rounds", type=int, default=5, help="alternating rounds the saves are split into (default: 5)")
    p.add_argument("--dir", type=Path, default=ROOT / "runs", help="where the runs are written (default: runs/)")
    p.add_argument("--cases", nargs="+", choices=sorted(CASES), default=list(CASES), help="which runs to save")
    p.add_argument("--json", type=Path, default=None, help="result file or folder (default: benchmarks/results/)")
    args = p.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    command = "python " + " ".join(
        [str(Path(sys.argv[0]).relative_to(ROOT) if Path(sys.argv[0]).is_absolute() else sys.argv[0]), *sys.argv[1:]]
    )
    load_before = os.getloadavg()
    cases: dict[str, dict[str, object]] = {}
    for name in args.cases:
        cases[name] = case = {"overrides": CASES[name], **time_saves(CASES[name], args.saves, args.rounds, args.dir)}
        print(
            f"{name}: {case['checkpoint_bytes'] / 1e6:.2f} MB; median {case['with_fsync_ms']['median']:.1f} ms with fsync, "
            f"{case['without_fsync_ms']['median']:.1f} ms without ({case['added_ms_median']:+.1f} ms per checkpoint)"
        )
    load_after = os.getloadavg()
    busy = max(*load_before, *load_after) > (os.cpu_count() or 1)  # other jobs shared the cores: compare only within this file
    protocol = {
        "what": "Workspace.save() (last.pt + summary.json) of a fresh run",
        "saves_each_way": args.saves,
        "rounds": args.rounds,
        "alternating": True,
        **file_system(args.dir),
    }
    rec = results.record(
        "checkpoint-fsync",
        "Cost of flushing a checkpoint to the disk",
        "io",
        command,
        protocol,
        seeds=[],
        notes="machine busy: other jobs shared the cores" if busy else None,
        cases=cases,
        load_average_before=load_before,
        load_average_after=load_after,
        machine_busy=busy,
    )
    print(f"wrote {results.write(rec, args.json)}")


if __name__ == "__main__":
    main()
