"""TensorBoard and console output: the only place a run writes scalars or prints progress."""

from __future__ import annotations

import fcntl
import hashlib
import io
import os
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from tensorboard.compat.proto.summary_pb2 import Summary

from pgtrain.files import Writing
from pgtrain.workarounds.events import EventWriter, hparams


class Logger:
    """Scalars go to TensorBoard with x = env steps; progress goes to a tqdm bar on a terminal, or to plain periodic
    lines when stdout is not one (files, CI, sweeps).

    A sweep's job has a ``label`` (``job 3 seed=1``) on its bar or lines, and ``slots`` (a key naming its sweep): its
    bar takes the lowest terminal line no other job of the sweep holds (:func:`claim_slot`), so jobs that run at once,
    each in its own process, draw one line each instead of overwriting one another, and its bar is cleared when done.

    ``purge_step`` (on resume) drops the events a previous process logged after its last checkpoint, so a resumed
    curve has no duplicated points. A write that fails for lack of space leaves as :class:`pgtrain.errors.DiskFull`
    naming the event file.
    """

    def __init__(
        self,
        run_dir: Path,
        total_steps: int,
        start_step: int = 0,
        progress: bool = True,
        log_interval_s: float = 5.0,
        purge_step: int | None = None,
        label: str = "",
        slots: str | None = None,
    ) -> None:
        with Writing(run_dir):
            self.writer = EventWriter(run_dir, purge_step=purge_step)  # torch's SummaryWriter's records, without its imports
        self.writing = Writing(self.writer.path)
        self.total_steps = total_steps
        self.log_interval_s = log_interval_s
        self.last_line = time.perf_counter()
        self.pending: dict[str, list[float]] = defaultdict(list)
        self.pending_latest: dict[str, tuple[float, int]] = {}
        self.bar = None
        self.progress = progress
        self.label = label
        self.out: _WholeWrites | None = None
        self.slot_fd: int | None = None
        if progress and sys.stdout.isatty():
            from tqdm import tqdm  # only for a terminal: a run into a file or a pipe never imports it

            position = 0
            if slots is not None:
                position, self.slot_fd = claim_slot(slots)
                self.out = _WholeWrites(sys.stdout)
            self.bar = tqdm(
                total=total_steps,
                initial=start_step,
                unit="step",
                dynamic_ncols=True,
                file=self.out or sys.stdout,
                desc=label or None,
                position=position,
                leave=slots is None,
            )
            self._emit()
        self.shown_step = start_step

    def scalar(self, tag: str, value: float, step: int) -> None:
        with self.writing:
            self.writer.add_scalar(tag, value, step)

    def accumulate(self, metrics: dict[str, float]) -> None:
        """Keep an update's metrics; :meth:`flush_metrics` writes their means."""
        for key, value in metrics.items():
            self.pending[key].append(value)

    def latest(self, values: dict[str, float], step: int) -> None:
        """Keep values that hold from env step ``step`` on (a schedule's): :meth:`flush_metrics` writes the latest of
        each at the step it was set, not a mean."""
        for key, value in values.items():
            self.pending_latest[key] = (value, step)

    def flush_metrics(self, step: int) -> None:
        """Write the means of the metrics kept since the last flush at ``step``, and the latest values at their own steps."""
        with self.writing:
            for key, values in self.pending.items():
                self.writer.add_scalar(key, sum(values) / len(values), step)
            for key, (value, at) in self.pending_latest.items():
                self.writer.add_scalar(key, value, at)
        self.pending.clear()
        self.pending_latest.clear()

    def show(self, step: int, sps: float, recent_return: float | None, extra: str = "", force: bool = False) -> None:
        """Advance the progress bar, or print a line every ``log_interval_s`` seconds (and when ``force``)."""
        if not self.progress:
            return
        ret = "n/a" if recent_return is None else f"{recent_return:.2f}"
        if self.bar is not None:
            self.bar.update(max(0, min(step, self.total_steps) - self.shown_step))
            self.shown_step = min(step, self.total_steps)
            self.bar.set_postfix_str(f"sps={sps:,.0f} return={ret}{extra}", refresh=False)
            self._emit()
            return
        now = time.perf_counter()
        if force or now - self.last_line >= self.log_interval_s:
            self.last_line = now
            prefix = f"{self.label}: " if self.label else ""
            print(f"{prefix}step {step:>10,}/{self.total_steps:,}  sps {sps:>9,.0f}  mean return {ret}{extra}", flush=True)

    def hparams(self, config: dict[str, Any], metrics: dict[str, float], step: int) -> None:
        """The flattened config beside the final metrics, in the HParams tab (written into this run's own file)."""
        with self.writing:
            for summary in hparams(config, metrics):
                self.writer.add_summary(summary)
            for key, value in metrics.items():
                self.writer.add_scalar(key, value, step)

    def video(self, tag: str, frames: list[np.ndarray], step: int, fps: float) -> None:
        """``(H, W, 3)`` uint8 frames as an animated GIF in the Images tab (what SummaryWriter.add_video writes, without
        its moviepy dependency); frames wider than 320 pixels are halved."""
        if not frames:
            return
        from PIL import Image  # videos are rare: a run without them never imports PIL

        stride = 2 if frames[0].shape[1] > 320 else 1
        images = [Image.fromarray(f[::stride, ::stride]).convert("P", palette=Image.Palette.WEB, dither=Image.Dither.NONE) for f in frames]
        buf = io.BytesIO()
        images[0].save(buf, format="GIF", save_all=True, append_images=images[1:], duration=max(20, round(1000 / fps)), loop=0)
        h, w = frames[0][::stride, ::stride].shape[:2]
        image = Summary.Image(height=h, width=w, colorspace=3, encoded_image_string=buf.getvalue())
        with self.writing:
            self.writer.add_summary(Summary(value=[Summary.Value(tag=tag, image=image)]), step)

    def flush(self) -> None:
        """Hand the events written so far to the operating system (the file's buffer holds the rest)."""
        with self.writing:
            self.writer.flush()

    def abandon(self) -> None:
        """Close the event file after a write failed for lack of space, dropping what its buffer still holds (flushed
        at exit, it would fail again, in a message of its own)."""
        try:
            self.writer.close()
        except OSError:
            pass

    def _emit(self) -> None:
        if self.out is not None:
            self.out.emit()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
            if self.out is not None:  # tqdm leaves the cursor at the end of the cleared line: back to its start
                self.out.write("\r")
            self._emit()
        if self.slot_fd is not None:
            os.close(self.slot_fd)  # frees the line for the sweep's next job
            self.slot_fd = None
        with self.writing:
            self.writer.flush()
            self.writer.close()


def claim_slot(key: str) -> tuple[int, int]:
    """The lowest slot (terminal line) that no other process holds for ``key``, and the open file whose lock holds it
    (closing it, or the process ending, frees it). Lock files go to a folder of the temporary directory named by the
    key's hash, never into a run."""
    folder = Path(tempfile.gettempdir()) / f"pgtrain-slots-{hashlib.sha1(key.encode()).hexdigest()[:16]}"
    folder.mkdir(exist_ok=True)
    slot = 0
    while True:
        fd = os.open(folder / f"{slot}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return slot, fd
        except OSError:
            os.close(fd)
            slot += 1


class _WholeWrites(io.TextIOBase):
    """A text stream that gathers what tqdm writes for one refresh (a move to the bar's line, the bar, a move back) and
    hands it to the terminal in one ``write`` call, so that bars drawn by several processes never interleave halfway."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.parts: list[str] = []
        self.lock = threading.Lock()  # tqdm's monitor thread may refresh a bar

    def write(self, text: str) -> int:
        with self.lock:
            self.parts.append(text)
        return len(text)

    def flush(self) -> None:  # tqdm flushes between the parts of one refresh: wait for emit()
        pass

    def fileno(self) -> int:  # tqdm reads the terminal's width through it
        return self.stream.fileno()

    def isatty(self) -> bool:
        return True

    def emit(self) -> None:
        with self.lock:
            data, self.parts = "".join(self.parts), []
        if data:
            self.stream.flush()
            os.write(self.stream.fileno(), data.encode(self.stream.encoding or "utf-8", "replace"))
