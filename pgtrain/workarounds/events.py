"""TensorBoard event files: the records ``torch.utils.tensorboard.SummaryWriter`` writes, without its imports.

Importing torch's SummaryWriter imports tensorboard's summary ops and with them tensorboard's stand-in for TensorFlow
(absl flags, and boto3, botocore and fsspec for cloud file systems) at every start of every run, to write scalars into
a local file (benchmarks/results/fast-paths_2026-12-07.json). This module writes the same
records from the event protos alone: an event file is a sequence of TFRecords (length, masked CRC-32C of the length,
the serialised ``Event``, masked CRC-32C of it), opened by a ``file_version`` event. TensorBoard, ``pgtrain-plot`` and
:func:`pgtrain.curves.load_curve` read them as they read torch's (tests/test_operations.py reads scalars, HParams,
images and the resume purge through tensorboard's own EventAccumulator).
"""

from __future__ import annotations

import itertools
import os
import socket
import struct
import time
from pathlib import Path
from typing import Any

from tensorboard.compat.proto.event_pb2 import Event, SessionLog
from tensorboard.compat.proto.summary_pb2 import Summary, SummaryMetadata


def _crc32c_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_TABLE = _crc32c_table()
_files = itertools.count()  # distinguishes the files one process opens within a second


def masked_crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli) of ``data``, masked as TFRecords store it."""
    crc = 0xFFFFFFFF
    table = _TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    crc ^= 0xFFFFFFFF
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


class EventWriter:
    """Appends events to a new ``events.out.tfevents.*`` file in ``log_dir`` (the name torch's writer gives it).

    ``purge_step`` (on resume) first writes a session-start event at that step, which tells TensorBoard to drop the
    events of earlier files logged at or after it. Writes go through a buffered file: :meth:`flush` and :meth:`close`
    put them on disk.
    """

    def __init__(self, log_dir: Path | str, purge_step: int | None = None) -> None:
        os.makedirs(log_dir, exist_ok=True)
        name = f"events.out.tfevents.{int(time.time()):010d}.{socket.gethostname()}.{os.getpid()}.{next(_files)}"
        self.path = Path(log_dir) / name
        self._file = open(self.path, "wb")  # noqa: SIM115 (closed by close())
        self.add_event(Event(file_version="brain.Event:2"))
        if purge_step is not None:
            self.add_event(Event(step=purge_step, file_version="brain.Event:2"))
            self.add_event(Event(step=purge_step, session_log=SessionLog(status=SessionLog.START)))
        self.flush()

    def add_event(self, event: Event, step: int | None = None) -> None:
        event.wall_time = time.time()
        if step is not None:
            event.step = int(step)
        data = event.SerializeToString()
        header = struct.pack("<Q", len(data))
        self._file.write(header + struct.pack("<I", masked_crc32c(header)) + data + struct.pack("<I", masked_crc32c(data)))

    def add_summary(self, summary: Summary, step: int | None = None) -> None:
        self.add_event(Event(summary=summary), step)

    def add_scalar(self, tag: str, value: float, step: int) -> None:
        self.add_summary(Summary(value=[Summary.Value(tag=tag, simple_value=float(value))]), step)

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()


def hparams(config: dict[str, Any], metrics: dict[str, float]) -> list[Summary]:
    """The three summaries of TensorBoard's HParams tab (experiment, session start, session end), as
    ``torch.utils.tensorboard.summary.hparams`` builds them: numbers (bools among them) as floats, strings as strings."""
    from tensorboard.plugins.hparams import api_pb2, plugin_data_pb2

    def summary(tag: str, **content: Any) -> Summary:
        data = plugin_data_pb2.HParamsPluginData(version=0, **content).SerializeToString()
        metadata = SummaryMetadata(plugin_data=SummaryMetadata.PluginData(plugin_name="hparams", content=data))
        return Summary(value=[Summary.Value(tag=tag, metadata=metadata)])

    start = plugin_data_pb2.SessionStartInfo()
    infos = []
    for key, value in config.items():
        if value is None:
            continue
        if isinstance(value, (int, float)):  # before str and bool, as torch's: a bool is logged as a number
            start.hparams[key].number_value = value
            infos.append(api_pb2.HParamInfo(name=key, type=api_pb2.DataType.Value("DATA_TYPE_FLOAT64")))
        elif isinstance(value, str):
            start.hparams[key].string_value = value
            infos.append(api_pb2.HParamInfo(name=key, type=api_pb2.DataType.Value("DATA_TYPE_STRING")))
        else:
            raise ValueError(f"hparams: {key}={value!r} is not a number or a string")
    experiment = api_pb2.Experiment(hparam_infos=infos, metric_infos=[api_pb2.MetricInfo(name=api_pb2.MetricName(tag=k)) for k in metrics])
    end = plugin_data_pb2.SessionEndInfo(status=api_pb2.Status.Value("STATUS_SUCCESS"))
    return [
        summary("_hparams_/experiment", experiment=experiment),
        summary("_hparams_/session_start_info", session_start_info=start),
        summary("_hparams_/session_end_info", session_end_info=end),
    ]
