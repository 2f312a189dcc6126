"""Files that appear whole: everything pgtrain writes for others to read (checkpoints, ``summary.json``, ``eval.json``,
reports, plots, videos) is written to a temporary file beside its path and renamed over it when complete, so a reader,
a crash or Ctrl-C never leaves half a file under the real name."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from types import TracebackType


class AtomicPath:
    """``path``'s temporary twin ``.<stem>.tmp-<pid><suffix>`` (same directory, so the rename is atomic; same suffix,
    for writers that infer the format from it). Write to :attr:`tmp`, then :meth:`commit` or :meth:`discard`; as a
    context manager it creates the directory, yields :attr:`tmp`, and commits when the block ends without an error,
    discards otherwise."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.tmp = self.path.with_name(f".{self.path.stem}.tmp-{os.getpid()}{self.path.suffix}")

    def commit(self) -> None:
        os.replace(self.tmp, self.path)

    def discard(self) -> None:
        self.tmp.unlink(missing_ok=True)

    def __enter__(self) -> Path:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        return self.tmp

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        if kind is None:
            self.commit()
        else:
            self.discard()


def write_text(path: Path | str, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with AtomicPath(path) as tmp:
        tmp.write_text(text)


def remove_new_dir(path: Path | str, keep_dir: bool = False) -> None:
    """Remove a directory this process created and everything in it (``keep_dir``: empty it, keep the directory)."""
    path = Path(path)
    if not keep_dir:
        shutil.rmtree(path, ignore_errors=True)
        return
    for child in path.iterdir() if path.is_dir() else []:
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)
