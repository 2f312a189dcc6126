"""Runs many ``pgtrain`` command lines in one process, for tests/test_limits.py's fuzz test (one interpreter start,
one torch import, instead of one per case).

    python -m tests.fuzz_driver CASES.json RESULTS.json

CASES.json holds ``{"cases": [[arg, ...], ...], "timeout_s": float}``. Each case runs through ``pgtrain.cli.main`` as
the ``pgtrain`` command would, with stdout and stderr captured; RESULTS.json gets, per case, its exit status (None for
a run still going at ``timeout_s``: an accepted config with a long run, which is not a failure) and what it printed.
Before each case its index goes to file descriptor 2, so when a case kills the process with a signal, the last index
printed names it. ``--help ARGS`` cases return the help text as ``stdout``.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import sys
import traceback


class CaseTimeout(BaseException):
    """A case still running after its time: a long run the config asked for."""


def _alarm(signum: int, frame: object) -> None:
    raise CaseTimeout


def run_case(args: list[str], timeout_s: float) -> dict:
    from pgtrain import cli

    out, err = io.StringIO(), io.StringIO()
    status: int | None = 0
    sys.argv = ["pgtrain", *args]
    signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout_s)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                cli.main()
            except SystemExit as ex:
                status = ex.code if isinstance(ex.code, int) else (0 if ex.code is None else 1)
            except CaseTimeout:
                status = None
            except BaseException:  # what the real command would print as a traceback
                err.write(traceback.format_exc())
                status = 1
    except CaseTimeout:  # landed outside the inner try (while redirecting back)
        status = None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    return {"args": args, "status": status, "stdout": out.getvalue(), "stderr": err.getvalue()}


def main() -> None:
    cases_path, results_path = sys.argv[1:3]
    spec = json.loads(open(cases_path).read())
    results = []
    for i, args in enumerate(spec["cases"]):
        os.write(2, f"case {i}: {' '.join(args)}\n".encode())
        results.append(run_case(args, spec.get("timeout_s", 20.0)))
        with open(results_path, "w") as f:  # after every case: a crash keeps what was done
            json.dump(results, f)
    sys.stdout.flush()
    os._exit(0)  # threads of runs cut short by their timeout must not hold the process open


if __name__ == "__main__":
    main()
