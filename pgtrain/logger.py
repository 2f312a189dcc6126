"""TensorBoard and console output: the only place a run writes scalars or prints progress."""

from __future__ import annotations

import io
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from tensorboard.compat.proto.summary_pb2 import Summary

from pgtrain.workarounds.events import EventWriter, hparams


class Logger:
    """Scalars go to TensorBoard with x = env steps; progress goes to a tqdm bar on a terminal, or to plain periodic
    lines when stdout is not one (files, CI, sweeps).

    ``purge_step`` (on resume) drops the events a previous process logged after its last checkpoint, so a resumed
    curve has no duplicated points.
    """

    def __init__(
        self,
        run_dir: Path,
        total_steps: int,
        start_step: int = 0,
        progress: bool = True,
        log_interval_s: float = 5.0,
        purge_step: int | None = None,
    ) -> None:
        self.writer = EventWriter(run_dir, purge_step=purge_step)  # torch's SummaryWriter's records, without its imports
        self.total_steps = total_steps
        self.log_interval_s = log_interval_s
        self.last_line = time.perf_counter()
        self.pending: dict[str, list[float]] = defaultdict(list)
        self.bar = None
        self.progress = progress
        if progress and sys.stdout.isatty():
            from tqdm import tqdm  # only for a terminal: a run into a file or a pipe never imports it

            self.bar = tqdm(total=total_steps, initial=start_step, unit="step", dynamic_ncols=True, file=sys.stdout)
        self.shown_step = start_step

    def scalar(self, tag: str, value: float, step: int) -> None:
        self.writer.add_scalar(tag, value, step)

    def accumulate(self, metrics: dict[str, float]) -> None:
        """Keep an update's metrics; :meth:`flush_metrics` writes their means."""
        for key, value in metrics.items():
            self.pending[key].append(value)

    def flush_metrics(self, step: int) -> None:
        for key, values in self.pending.items():
            self.writer.add_scalar(key, sum(values) / len(values), step)
        self.pending.clear()

    def show(self, step: int, sps: float, recent_return: float | None, extra: str = "", force: bool = False) -> None:
        """Advance the progress bar, or print a line every ``log_interval_s`` seconds (and when ``force``)."""
        if not self.progress:
            return
        ret = "n/a" if recent_return is None else f"{recent_return:.2f}"
        if self.bar is not None:
            self.bar.update(max(0, min(step, self.total_steps) - self.shown_step))
            self.shown_step = min(step, self.total_steps)
            self.bar.set_postfix_str(f"sps={sps:,.0f} return={ret}{extra}", refresh=False)
            return
        now = time.perf_counter()
        if force or now - self.last_line >= self.log_interval_s:
            self.last_line = now
            print(f"step {step:>10,}/{self.total_steps:,}  sps {sps:>9,.0f}  mean return {ret}{extra}", flush=True)

    def hparams(self, config: dict[str, Any], metrics: dict[str, float], step: int) -> None:
        """The flattened config beside the final metrics, in the HParams tab (written into this run's own file)."""
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
        self.writer.add_summary(Summary(value=[Summary.Value(tag=tag, image=image)]), step)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        self.writer.flush()
        self.writer.close()
