"""The one exception type that reaches the user as a one-line message."""


class PgtrainError(Exception):
    """A user-facing error: printed as ``pgtrain: error: <message>`` with a nonzero exit, never a traceback."""
