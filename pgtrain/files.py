"""Files that appear whole and stay on the disk: everything pgtrain writes for others to read (checkpoints,
``summary.json``, ``eval.json``, reports, plots, videos) is written to a temporary file beside its path, flushed to the
disk, and renamed over it when complete, the directory flushed after: a reader, a crash, Ctrl-C or a power loss never
leaves half a file (or an empty one) under the real name.

A write that fails for lack of space (a full file system, a spent quota) becomes :class:`DiskFull`, one line naming
the path and the cause; the temporary file is removed, and the file it would have replaced stays as it was.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path
from types import TracebackType

from pgtrain.errors import DiskFull

SYNC = True  # False only to measure what flushing to the disk costs (scripts/bench_checkpoint.py)
SPACE_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
LOW_SPACE_BYTES = 1 << 20  # below this the file system counts as full when a writer reports its failure vaguely


def lack_of_space(ex: BaseException, where: Path | str) -> str | None:
    """The cause (``No space left on device (ENOSPC)``) when ``ex`` is a write that failed for lack of space, else None.

    torch's writer reports a failed write as ``RuntimeError: [enforce fail at inline_container.cc...] unexpected pos``
    raised while handling the OSError of the Python file it writes to; ffmpeg's as a broken pipe: the chain of
    exceptions is searched for the OSError, and a vaguer failure counts when ``where``'s file system is full."""
    seen: set[int] = set()
    link: BaseException | None = ex
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        if isinstance(link, OSError) and link.errno in SPACE_ERRNOS:
            return f"{os.strerror(link.errno)} ({errno.errorcode[link.errno]})"
        link = link.__cause__ or link.__context__
    if isinstance(ex, (OSError, RuntimeError)) and _full(Path(where)):
        return f"{os.strerror(errno.ENOSPC)} (ENOSPC)"
    return None


def _full(where: Path) -> bool:
    while not where.exists() and where != where.parent:
        where = where.parent
    try:
        st = os.statvfs(where)
    except OSError:
        return False
    out_of_inodes = st.f_files > 0 and st.f_favail == 0  # btrfs reports no inode counts at all
    return st.f_bavail * st.f_frsize < LOW_SPACE_BYTES or out_of_inodes


def no_space(ex: BaseException, path: Path | str) -> DiskFull | None:
    """:class:`DiskFull` naming ``path`` when ``ex`` failed for lack of space (see :func:`lack_of_space`), else None."""
    if isinstance(ex, DiskFull):
        return ex
    cause = lack_of_space(ex, path)
    return None if cause is None else DiskFull(f"cannot write {path}: {cause}")


class Writing:
    """A block that writes ``path``: a failure for lack of space leaves it as :class:`DiskFull` (a class, not a
    generator: the logger enters one for every scalar)."""

    def __init__(self, path: Path | str) -> None:
        self.path = path

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        if value is not None and not isinstance(value, DiskFull) and (full := no_space(value, self.path)) is not None:
            raise full from None


def fsync_file(path: Path | str) -> None:
    """Flush ``path``'s data to the disk (it may have been written by another library or process)."""
    if not SYNC:
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path | str) -> None:
    """Flush a directory's entries to the disk, so a rename in it survives a power loss."""
    if not SYNC:
        return
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class AtomicPath:
    """``path``'s temporary twin ``.<stem>.tmp-<pid><suffix>`` (same directory, so the rename is atomic; same suffix,
    for writers that infer the format from it). Write to :attr:`tmp`, then :meth:`commit` or :meth:`discard`; as a
    context manager it creates the directory, yields :attr:`tmp`, and commits when the block ends without an error,
    discards otherwise (a lack of space leaves as :class:`DiskFull`)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.tmp = self.path.with_name(f".{self.path.stem}.tmp-{os.getpid()}{self.path.suffix}")

    def commit(self) -> None:
        """Flush the temporary file to the disk, rename it over :attr:`path`, flush the directory."""
        try:
            fsync_file(self.tmp)
            os.replace(self.tmp, self.path)
            fsync_dir(self.path.parent)
        except OSError as ex:
            self.discard()
            full = no_space(ex, self.path)
            if full is None:
                raise
            raise full from None

    def discard(self) -> None:
        self.tmp.unlink(missing_ok=True)

    def __enter__(self) -> Path:
        with Writing(self.path):
            self.path.parent.mkdir(parents=True, exist_ok=True)
        return self.tmp

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        if value is None:
            self.commit()
            return
        full = no_space(value, self.path)  # before discarding: a vague failure is judged by the space left
        self.discard()
        if full is not None and full is not value:
            raise full from None


def write_text(path: Path | str, text: str) -> None:
    """Write ``text`` to ``path`` atomically and durably."""
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
