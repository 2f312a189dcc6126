"""pgtrain.workarounds.exits: the console scripts' exit keeps the exit status, the output and the atexit handlers, and waits for
threads still running; only the interpreter's teardown is skipped."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pgtrain.workarounds.exits import exit_status


def run_command(body: str, tmp_path: Path) -> subprocess.CompletedProcess:
    """Run ``run_and_exit(command)`` in a fresh interpreter, ``command`` having ``body`` as its code."""
    code = textwrap.dedent(
        """
        import atexit, sys, threading, time
        from pathlib import Path
        from pgtrain.workarounds.exits import run_and_exit
        out = Path(sys.argv[1])
        atexit.register(lambda: (out / "atexit").write_text("ran"))
        def command():
        {body}
        run_and_exit(command)
        print("not reached")
        """
    ).format(body=textwrap.indent(textwrap.dedent(body), "    "))
    return subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(("code", "status"), [(None, 0), (0, 0), (2, 2), (130, 130), ("a message", 1)])
def test_exit_status_as_the_interpreter_computes_it(code: object, status: int) -> None:
    assert exit_status(code) == status


def test_a_finished_command_exits_0_with_its_output_and_the_atexit_handlers(tmp_path: Path) -> None:
    res = run_command('sys.stdout.write("partial line without newline")', tmp_path)
    assert (res.returncode, res.stdout) == (0, "partial line without newline")
    assert (tmp_path / "atexit").read_text() == "ran"


@pytest.mark.parametrize(("raise_", "status", "stderr"), [("2", 2, ""), ("130", 130, ""), ("'pgtrain: stop'", 1, "pgtrain: stop\n")])
def test_system_exit_keeps_its_status_and_message(tmp_path: Path, raise_: str, status: int, stderr: str) -> None:
    res = run_command(f'print("before", flush=False)\nraise SystemExit({raise_})', tmp_path)
    assert (res.returncode, res.stdout, res.stderr) == (status, "before\n", stderr)
    assert (tmp_path / "atexit").read_text() == "ran"


def test_a_thread_still_running_is_waited_for(tmp_path: Path) -> None:
    res = run_command('threading.Thread(target=lambda: (time.sleep(0.5), (out / "thread").write_text("done"))).start()', tmp_path)
    assert res.returncode == 0
    assert (tmp_path / "thread").read_text() == "done"


def test_other_exceptions_leave_with_their_traceback(tmp_path: Path) -> None:
    res = run_command('raise ValueError("boom")', tmp_path)
    assert res.returncode == 1
    assert "Traceback" in res.stderr and "ValueError: boom" in res.stderr
    assert "not reached" not in res.stdout


def test_a_profiler_still_writes_its_statistics(tmp_path: Path) -> None:
    stats = tmp_path / "run.prof"
    script = tmp_path / "command.py"
    script.write_text("from pgtrain.workarounds.exits import run_and_exit\nrun_and_exit(lambda: None)\n")
    res = subprocess.run([sys.executable, "-m", "cProfile", "-o", str(stats), str(script)], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert stats.stat().st_size > 0
