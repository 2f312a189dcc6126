"""The exception types that reach the user as a one-line message, each with its exit status (docs/operations.md)."""

import errno


class PgtrainError(Exception):
    """A user-facing error: printed as ``pgtrain: error: <message>`` with a nonzero exit, never a traceback."""

    exit_status = 2  # a refused input or a run that cannot go on


class DiskFull(PgtrainError):
    """A write failed for lack of space (a full file system or a spent quota); what was saved before stays whole."""

    exit_status = errno.ENOSPC  # 28: a script can tell "free space, then resume" from a refused input


class RunBusy(PgtrainError):
    """Another live process holds the run directory (pgtrain.rundir): one writer per run."""

    exit_status = errno.EBUSY  # 16: wait for the holder (or stop it), nothing to fix in the command
