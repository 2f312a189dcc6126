"""Time-to-solve benchmark: run ``pgtrain`` for several seeds and tabulate env steps and wall seconds to the threshold.

Each seed is a real ``pgtrain`` process (one at a time, so they don't share the cores) into a temporary directory.
"Wall seconds to solve" is measured inside the run from the start of the training loop (after imports and env
construction) to the episode that lifts the mean of the last ``env.solve_window`` episodes to ``env.solve_threshold``;
the process's whole wall time is reported beside it.

    python scripts/bench_solve.py --algo reinforce --env cartpole --seeds 0 1 2 3 4
    python scripts/bench_solve.py --algo ddpg --env pendulum --full          # run the whole budget (final evaluation)
    python scripts/bench_solve.py --algo a2c --env pendulum --full -- total_steps=200000

Every seed's summary goes to a result file (scripts/results.py's envelope): ``--json`` (a file, or a folder for
``<env>-<algo>_<date>.json``), by default benchmarks/results/.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from pgtrain import spawn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import results  # noqa: E402


def run_seed(algo: str, env: str, seed: int, full: bool, extra: list[str], workdir: Path) -> dict:
    run_dir = workdir / f"{algo}-{env}-{seed}"
    args = [f"algo={algo}", f"env={env}", f"seed={seed}", f"hydra.run.dir={run_dir}", "progress=false", *extra]
    if not full:
        args.append("stop_on_solve=true")
    t0 = time.perf_counter()
    res = spawn.run(*args)
    process_s = time.perf_counter() - t0
    if res.returncode != 0:
        raise SystemExit(f"seed {seed} failed: {res.stderr.strip()}")
    summary = json.loads((run_dir / "summary.json").read_text())
    summary["process_wall_s"] = process_s
    return summary


def _fmt(x: float | None, spec: str = ",.0f") -> str:
    return "—" if x is None else format(x, spec)


def table(rows: list[dict]) -> str:
    lines = [
        "| seed | solved | env steps to solve | wall s to solve | process wall s | steps/s | final return | final eval |",
        "|---:|:---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        s = r["solved"] or {}
        lines.append(
            f"| {r['seed']} | {'yes' if r['solved'] else 'no'} | {_fmt(s.get('env_steps'))} | {_fmt(s.get('wall_time_s'), '.2f')} | "
            f"{r['process_wall_s']:.1f} | {r['steps_per_second']:,.0f} | {_fmt(r['final_return'], '.1f')} | "
            f"{_fmt(r.get('final_eval_return'), '.1f')} |"
        )
    solved = [r["solved"] for r in rows if r["solved"]]
    if solved:
        steps = [s["env_steps"] for s in solved]
        secs = [s["wall_time_s"] for s in solved]
        lines.append("")
        lines.append(
            f"Solved {len(solved)}/{len(rows)}; median {statistics.median(steps):,.0f} env steps "
            f"(min {min(steps):,}, max {max(steps):,}); median {statistics.median(secs):.2f} s "
            f"(min {min(secs):.2f}, max {max(secs):.2f})."
        )
    else:
        lines.append("")
        lines.append(f"Solved 0/{len(rows)}.")
    finals = [r["final_return"] for r in rows if r["final_return"] is not None]
    evals = [r["final_eval_return"] for r in rows if r.get("final_eval_return") is not None]
    if finals:
        lines.append(f"Final return (last-100 training episodes): mean {statistics.mean(finals):.1f} over {len(finals)} seeds.")
    if evals:
        lines.append(f"Final deterministic evaluation: mean {statistics.mean(evals):.1f} (min {min(evals):.1f}).")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--algo", default="reinforce")
    parser.add_argument("--env", default="cartpole")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--full", action="store_true", help="run the whole budget instead of stopping at the threshold")
    parser.add_argument("--json", type=Path, help="the result file, or its folder (default benchmarks/results/)")
    parser.add_argument("overrides", nargs="*", help="extra pgtrain overrides (after --)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = []
        for seed in args.seeds:
            rows.append(run_seed(args.algo, args.env, seed, args.full, args.overrides, Path(tmp)))
            print(f"seed {seed}: solved={rows[-1]['solved']} final_return={rows[-1]['final_return']}", file=sys.stderr)
    cmd = " ".join(["python scripts/bench_solve.py", f"--algo {args.algo}", f"--env {args.env}", "--seeds", *map(str, args.seeds)])
    cmd += " --full" if args.full else ""
    cmd += (" -- " + " ".join(args.overrides)) if args.overrides else ""
    print(f"`{cmd}`\n")
    print(table(rows))
    first = rows[0]
    protocol = {"env": args.env, "env_id": first.get("env_id"), "solve_threshold": first.get("solve_threshold"),
                "solve_window": first.get("solve_window"), "stop_on_solve": not args.full, "overrides": args.overrides}  # fmt: skip
    rec = results.record(f"{args.env}-{args.algo}", f"{args.algo.upper()}, {first.get('env_id') or args.env}",
                         "budget" if args.full else "solve", cmd, protocol, rows)  # fmt: skip
    print(f"wrote {results.write(rec, args.json)}", file=sys.stderr)


if __name__ == "__main__":
    main()
