"""Start-up time of ``pgtrain``, side by side with the imports it cannot avoid, against its targets.

Each repeat runs every command once, in turn, as a fresh process (so load on the machine hits all of them alike), and
the table gives the median wall time of each over the repeats and the ratios:

    pgtrain --help                       vs  python -c "import torch"             target <= 0.5x (no torch at all)
    pgtrain algo.lr=-1 (refused, exit 2)  vs  python -c "import torch"             target <= 0.5x (no torch at all)
    pgtrain total_steps=1000 (CartPole)   vs  python -c "import torch, gymnasium"  target <= 1.3x (launch to the end of a
                                                                                    1,000-step REINFORCE run)

``pgtrain`` runs as ``python -m pgtrain.cli`` (the console script's code) with the interpreter running this script.
The targets are about wall time; the CPU time (user + system) of each process is printed beside it, as a check that
holds up when other jobs load the machine (wall time then stretches with the load, CPU time much less).

    python scripts/bench_startup.py                  # 5 repeats: about a minute on 2 quiet cores
    python scripts/bench_startup.py --repeats 1      # one of each (the test suite's smoke run)
    python scripts/bench_startup.py --json out.json  # the result file elsewhere than benchmarks/results/

The medians, ratios and every repeat's times go to a result file (scripts/results.py's envelope): ``--json`` (a file,
or a folder for ``startup_<date>.json``), by default benchmarks/results/.
"""

from __future__ import annotations

import argparse
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import results  # noqa: E402

PGTRAIN = [sys.executable, "-m", "pgtrain.cli"]

# name -> (command, expected exit status); {tmp} and {i} are filled in per run
COMMANDS: dict[str, tuple[list[str], int]] = {
    "import torch": ([sys.executable, "-c", "import torch"], 0),
    "pgtrain --help": ([*PGTRAIN, "--help"], 0),
    "pgtrain algo.lr=-1 (refused)": ([*PGTRAIN, "algo.lr=-1"], 2),
    "import torch, gymnasium": ([sys.executable, "-c", "import torch, gymnasium"], 0),
    "pgtrain total_steps=1000": ([*PGTRAIN, "total_steps=1000", "progress=false", "hydra.run.dir={tmp}/run{i}"], 0),
}
# (measured, baseline, target ratio)
TARGETS = [
    ("pgtrain --help", "import torch", 0.5),
    ("pgtrain algo.lr=-1 (refused)", "import torch", 0.5),
    ("pgtrain total_steps=1000", "import torch, gymnasium", 1.3),
]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_once(name: str, tmp: Path, i: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one run of command ``name``."""
    command, status = COMMANDS[name]
    argv = [arg.format(tmp=tmp, i=i) for arg in command]
    cpu, start = _children_cpu(), time.perf_counter()
    res = subprocess.run(argv, cwd=tmp, capture_output=True, text=True)
    seconds, cpu = time.perf_counter() - start, _children_cpu() - cpu
    if res.returncode != status:
        raise SystemExit(f"bench_startup: {name!r} exited {res.returncode}, expected {status}: {res.stderr.strip()[-500:]}")
    return seconds, cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs of each command (the median is reported)")
    parser.add_argument("--json", type=Path, help="the result file, or its folder (default benchmarks/results/)")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    cpus: dict[str, list[float]] = {name: [] for name in COMMANDS}
    with tempfile.TemporaryDirectory(prefix="pgtrain-bench-startup-") as tmp:
        for i in range(args.repeats):
            for name in COMMANDS:
                seconds, cpu = run_once(name, Path(tmp), i)
                times[name].append(seconds)
                cpus[name].append(cpu)
    medians = {name: statistics.median(ts) for name, ts in times.items()}
    cpu_medians = {name: statistics.median(ts) for name, ts in cpus.items()}
    print(f"medians of {args.repeats} (seconds; each repeat runs every command once, in turn):")
    print(f"  {'':<30} {'wall':>6} {'cpu':>6}")
    for name, seconds in medians.items():
        spread = f"  (wall min {min(times[name]):.2f}, max {max(times[name]):.2f})" if args.repeats > 1 else ""
        print(f"  {name:<30} {seconds:6.2f} {cpu_medians[name]:6.2f}{spread}")
    ratios = []
    print("ratios (wall; cpu in brackets):")
    for measured, baseline, target in TARGETS:
        ratio = medians[measured] / medians[baseline]
        cpu_ratio = cpu_medians[measured] / cpu_medians[baseline]
        met = ratio <= target
        row = {"measured": measured, "baseline": baseline, "ratio": round(ratio, 3), "cpu_ratio": round(cpu_ratio, 3)}
        ratios.append({**row, "target": target, "met": met})
        verdict = "met" if met else "missed"
        print(f"  {measured:<30} / {baseline:<24} {ratio:5.2f}x ({cpu_ratio:.2f}x)  (target <= {target}x: {verdict})")
    out = {"repeats": args.repeats, "times_s": times, "cpu_s": cpus, "medians_s": medians, "cpu_medians_s": cpu_medians}
    command = shlex.join(["python", "scripts/bench_startup.py", *(sys.argv[1:] if argv is None else argv)])
    protocol = {"commands": {name: " ".join(c[0][1:]) for name, c in COMMANDS.items()}, "repeats": args.repeats}
    rec = results.record("startup", "Start-up time", "startup", command, protocol, [], **out, ratios=ratios)
    print(f"wrote {results.write(rec, args.json)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
