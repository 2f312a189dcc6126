"""Runs that cannot be mixed up or lost: one writer per run directory, a full disk that costs nothing already saved,
checkpoints flushed to the disk before they replace the last one."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from pgtrain import checkpoint, files, rundir, spawn
from pgtrain.curves import load_curve
from pgtrain.errors import DiskFull
from tests.conftest import read_summary, run_cli

CARTPOLE = ["algo=a2c", "env=cartpole", "progress=false", "eval_interval=0"]
ENOSPC_STATUS = 28  # docs/operations.md, Exit statuses
EBUSY_STATUS = 16


def snapshot(run: Path) -> dict[str, bytes]:
    """Every file under ``run`` with its bytes."""
    return {str(p.relative_to(run)): p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file()}


def wait_for(condition, timeout: float, what: str, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the run ended (status {proc.returncode}) before {what}: {proc.stderr.read()[-2000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


# ----------------------------------------------------------------------------------------------------------------------
# One writer per run directory


def test_a_second_writer_is_refused_in_one_line_before_writing_and_a_killed_holder_leaves_no_lock(tmp_path):
    """The holder is a sweep's job (Hydra's multirun, its basic launcher); a resume of the job's directory, a run into it
    and the sweep launched again are each refused, and change nothing."""
    sweep = tmp_path / "sweep"
    holder = spawn.start(
        "-m", *CARTPOLE, "seed=0", "total_steps=100000000", "checkpoint_every_s=0.5", f"hydra.sweep.dir={sweep}",
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        locks = lambda: [p for p in sweep.glob(f"*/{rundir.LOCK_NAME}") if f"pid={holder.pid}\n" in p.read_text()]  # noqa: E731
        wait_for(lambda: sweep.is_dir() and locks(), 120, "the job to hold its lock", holder)
        run = locks()[0].parent
        # the summary is written right after the checkpoint: wait for both
        wait_for(lambda: (run / "summary.json").is_file(), 120, "the first checkpoint and summary", holder)
        os.kill(holder.pid, signal.SIGSTOP)  # it keeps the lock and writes nothing while the directory is compared
        before = snapshot(sweep)
        who = f"(pid {holder.pid} on host {socket.gethostname()}: "
        for args in (
            [f"resume={run}", "total_steps=200000000"],  # a resume in a second terminal
            [*CARTPOLE, "total_steps=1000", f"hydra.run.dir='{run}'"],  # a job launched again into its directory
            ["-m", *CARTPOLE, "seed=0", "total_steps=1000", f"hydra.sweep.dir={sweep}"],  # the sweep launched again
        ):
            res = run_cli(*args, cwd=tmp_path, timeout=120)
            assert res.returncode == EBUSY_STATUS, res.stderr
            lines = res.stderr.splitlines()
            assert len(lines) == 1 and lines[0].startswith(f"pgtrain: error: {run} is being written by another process {who}")
            assert "total_steps=100000000" in lines[0]  # the holder's command
            assert snapshot(sweep) == before  # nothing written, nothing touched

        # reading works while it trains
        res = run_cli(str(run), "--episodes", "1", cwd=tmp_path, module="pgtrain.evaluation", timeout=120)
        assert res.returncode == 0, res.stderr
        assert len(json.loads((run / "eval.json").read_text())["evaluations"]) == 1
        res = run_cli(str(run), "--out", str(tmp_path / "curve.png"), cwd=tmp_path, module="pgtrain.plotting", timeout=120)
        assert res.returncode == 0, res.stderr

        os.kill(holder.pid, signal.SIGKILL)  # no chance to clean up: the operating system drops the lock
        holder.wait(30)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
        holder.stderr.close()
    done = read_summary(run)["env_steps"]
    res = run_cli(f"resume={run}", f"total_steps={done + 2000}", "progress=false", cwd=tmp_path, timeout=300)
    assert res.returncode == 0, res.stderr
    assert read_summary(run)["env_steps"] >= done + 2000
    assert rundir.holder(run) is None  # the resumed process ended: nobody holds it


def test_the_lock_is_held_until_released_and_names_its_holder(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    rundir.hold(run)
    try:
        rundir.hold(run)  # the same process again: it holds it already
        text = (run / rundir.LOCK_NAME).read_text()
        assert text.startswith(f"pid={os.getpid()}\nhost={socket.gethostname()}\ncommand=")
        probe = "from pathlib import Path; from pgtrain import rundir; print(rundir.holder(Path('run'))); rundir.hold(Path('run'))"
        res = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert res.stdout.startswith(f"pid {os.getpid()} on host {socket.gethostname()}: ")
        assert res.returncode == 1 and "pgtrain.errors.RunBusy" in res.stderr
    finally:
        rundir.release(run)
    assert rundir.holder(run) is None and (run / rundir.LOCK_NAME).read_text() == text  # released, its last holder kept
    rundir.hold(run)
    rundir.release(run)


# ----------------------------------------------------------------------------------------------------------------------
# A full disk


@pytest.fixture
def small_disk(tmp_path):
    """A 4 MiB tmpfs mounted for the test: a real file system that fills. Mounting needs root (CI runs as root): where
    it cannot be mounted the test fails under CI=true and is skipped elsewhere, with the reason."""
    disk = tmp_path / "disk"
    disk.mkdir()
    reason = None
    if os.geteuid() != 0:
        reason = "mounting a tmpfs needs root"
    else:
        res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)], capture_output=True, text=True)
        if res.returncode != 0:
            reason = f"mount -t tmpfs failed: {res.stderr.strip() or res.returncode}"
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI must run this test")
        pytest.skip(reason)
    try:
        yield disk
    finally:
        if subprocess.run(["umount", str(disk)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def fill(disk: Path, leave: int) -> Path:
    """A filler file that leaves about ``leave`` bytes of ``disk`` free."""
    st = os.statvfs(disk)
    filler = disk / "filler"
    with open(filler, "wb") as f:
        f.write(b"\0" * max(0, st.f_bavail * st.f_frsize - leave))
    return filler


def one_error_line(res: subprocess.CompletedProcess, prog: str, path: Path) -> str:
    assert res.returncode == ENOSPC_STATUS, res.stderr[-3000:]
    lines = res.stderr.splitlines()
    assert len(lines) == 1, res.stderr[-3000:]
    assert lines[0].startswith(f"{prog}: error: cannot write {path}") and "No space left on device (ENOSPC)" in lines[0]
    return lines[0]


def test_a_full_disk_ends_the_run_in_one_line_keeps_the_last_checkpoint_and_the_run_resumes(small_disk, tmp_path):
    run = small_disk / "run"
    filler = fill(small_disk, 900_000)  # room for a few checkpoints of about 145 KB
    res = run_cli(*CARTPOLE, "total_steps=60000", "checkpoint_interval=2000", f"hydra.run.dir={run}", cwd=tmp_path)
    line = one_error_line(res, "pgtrain", run)
    last = run / "checkpoints" / "last.pt"
    assert f"the last good checkpoint {last} is kept; free some space, then: pgtrain resume={run}" in line
    state = checkpoint.load(last)  # whole, never replaced by a partial file
    saved = int(state["counters"]["env_steps"])
    assert 0 < saved < 60000
    assert not [p.name for p in run.rglob(".*tmp-*")]  # no temporary file left taking space

    filler.unlink()
    res = run_cli(f"resume={run}", "checkpoint_interval=0", cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    summary = read_summary(run)
    assert summary["env_steps"] >= 60000 and checkpoint.load(last)["counters"]["env_steps"] == summary["env_steps"]
    curve = load_curve(run)  # every episode once: those up to the checkpoint kept, those after it dropped and replayed
    assert len(curve.steps) == summary["episodes"]
    assert np.all(np.diff(curve.steps) >= 0)  # several envs may end episodes at one step


def test_a_checkpoint_or_summary_that_does_not_fit_leaves_the_previous_one_whole(small_disk):
    """torch's writer on a full disk (its RuntimeError from inline_container.cc) and a text file: DiskFull naming the
    path, the previous file unchanged, no temporary file left."""
    import torch

    path, summary = small_disk / "checkpoints" / "last.pt", small_disk / "summary.json"
    checkpoint.save(path, {"x": torch.arange(10)})
    files.write_text(summary, "{}\n")
    fill(small_disk, 100_000)
    with pytest.raises(DiskFull, match=rf"^cannot write {path}: No space left on device \(ENOSPC\)$"):
        checkpoint.save(path, {"x": torch.zeros(1_000_000)})  # 4 MB
    with pytest.raises(DiskFull, match=rf"^cannot write {summary}: No space left on device \(ENOSPC\)$"):
        files.write_text(summary, "x" * 1_000_000)
    assert torch.equal(checkpoint.load(path)["x"], torch.arange(10)) and summary.read_text() == "{}\n"
    assert sorted(p.name for p in small_disk.rglob("*")) == ["checkpoints", "filler", "last.pt", "summary.json"]


def test_evaluations_plots_reports_and_new_runs_on_a_full_disk_are_one_line_and_keep_what_was_there(small_disk, tmp_path):
    run = small_disk / "sweep" / "0"
    res = run_cli(*CARTPOLE, "total_steps=3000", f"hydra.run.dir={run}", cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    res = run_cli(str(run), "--episodes", "1", cwd=tmp_path, module="pgtrain.evaluation")
    assert res.returncode == 0, res.stderr[-3000:]
    before = snapshot(run)
    fill(small_disk, 0)

    res = run_cli(str(run), "--episodes", "1", "--video", cwd=tmp_path, module="pgtrain.evaluation")
    one_error_line(res, "pgtrain-eval", run / "videos")
    res = run_cli(str(run), "--episodes", "1", cwd=tmp_path, module="pgtrain.evaluation")
    one_error_line(res, "pgtrain-eval", run / "eval.json")
    res = run_cli(str(run), "--out", str(small_disk / "curve.png"), cwd=tmp_path, module="pgtrain.plotting")
    one_error_line(res, "pgtrain-plot", small_disk / "curve.png")
    res = run_cli(str(small_disk / "sweep"), cwd=tmp_path, module="pgtrain.report")
    one_error_line(res, "pgtrain-report", small_disk / "sweep" / "report")
    assert snapshot(run) == before  # eval.json still holds its one record; no partial file anywhere
    res = run_cli(*CARTPOLE, "total_steps=1000", f"hydra.run.dir={small_disk / 'new'}", cwd=tmp_path)
    one_error_line(res, "pgtrain", small_disk / "new")  # a run that cannot even start: Hydra's own files


# ----------------------------------------------------------------------------------------------------------------------
# Durable checkpoints


def test_a_checkpoint_is_flushed_to_the_disk_before_its_rename_and_the_directory_after(tmp_path, monkeypatch):
    """The system calls in order: fsync of the temporary file, the rename, fsync of the directory."""
    calls: list[tuple[str, str]] = []
    fsync, replace = os.fsync, os.replace

    def recording_fsync(fd: int) -> None:
        calls.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        fsync(fd)

    def recording_replace(src, dst) -> None:
        calls.append(("rename", str(dst)))
        replace(src, dst)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    monkeypatch.setattr(os, "replace", recording_replace)
    path = tmp_path / "checkpoints" / "last.pt"
    checkpoint.save(path, {"x": 1})
    files.write_text(tmp_path / "summary.json", "{}\n")
    tmp = str(files.AtomicPath(path).tmp)
    summary_tmp = str(files.AtomicPath(tmp_path / "summary.json").tmp)
    assert calls == [
        ("fsync", tmp), ("rename", str(path)), ("fsync", str(path.parent)),
        ("fsync", summary_tmp), ("rename", str(tmp_path / "summary.json")), ("fsync", str(tmp_path)),
    ]  # fmt: skip
    assert checkpoint.load(path)["x"] == 1


def test_a_job_run_by_a_launchers_worker_process_holds_its_directory(tmp_path):
    """joblib runs each job in a worker process, as Ray's and submitit's workers do, through the same task function:
    the worker, not the launching process, holds the job's directory, and a resume of it is refused in one line."""
    sweep = tmp_path / "sweep"
    holder = spawn.start(
        "-m", *CARTPOLE, "seed=0", "total_steps=100000000", "hydra/launcher=joblib", f"hydra.sweep.dir={sweep}",
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    try:
        held = lambda: [p.parent for p in sweep.glob(f"*/{rundir.LOCK_NAME}") if rundir.holder(p.parent)]  # noqa: E731
        wait_for(lambda: sweep.is_dir() and held(), 120, "the job to hold its lock", holder)
        (run,) = held()
        text = (run / rundir.LOCK_NAME).read_text()
        assert "pid=" in text and f"pid={holder.pid}\n" not in text  # a worker process holds it
        res = run_cli(f"resume={run}", "total_steps=200000000", cwd=tmp_path, timeout=120)
        assert res.returncode == EBUSY_STATUS, res.stderr
        assert len(res.stderr.splitlines()) == 1 and "is being written by another process" in res.stderr
    finally:
        os.killpg(holder.pid, signal.SIGKILL)  # the launcher and its workers
        holder.wait(30)
        holder.stderr.close()
