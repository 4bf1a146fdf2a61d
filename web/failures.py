"""What the database's (or the disk's) failures mean for a person using the pages.

A request that meets a database busy with a long write (SQLite's single writer) is told to try
again in a moment (503 with Retry-After); a database that is damaged, unreachable or out of
disk space gets a maintenance page (503). Neither is a 500 with a traceback: both are the
system's state, not a fault of the request, and nothing was changed (the transaction was
rolled back).
"""

from __future__ import annotations

import errno
from enum import Enum

from sqlalchemy.exc import DBAPIError


class Trouble(Enum):
    BUSY = "busy"  # try again in a few seconds
    DOWN = "down"  # the operator must act: damaged file, full disk, database unreachable


# SQLite says it in words (sqlite3 gives no error code before Python 3.11's attributes on
# every driver path); PostgreSQL by SQLSTATE.
_SQLITE_BUSY = ("database is locked", "database table is locked", "database schema is locked")
_SQLITE_DOWN = (
    "database disk image is malformed",
    "file is not a database",
    "disk i/o error",
    "database or disk is full",
    "unable to open database file",
)
_PG_BUSY = frozenset({"55P03", "40001", "40P01", "57014"})  # lock, serialization, deadlock, timeout
_PG_DOWN_CLASSES = ("08", "53", "57P", "58", "XX")  # connection, resources, shutdown, I/O, internal
_DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO})


def database_trouble(exc: DBAPIError) -> Trouble | None:
    """BUSY or DOWN for failures of the system, None for anything else (a bug: a 500)."""
    original = exc.orig
    sqlstate = getattr(original, "sqlstate", None) or getattr(original, "pgcode", None)
    if isinstance(sqlstate, str):
        if sqlstate in _PG_BUSY:
            return Trouble.BUSY
        if sqlstate.startswith(_PG_DOWN_CLASSES):
            return Trouble.DOWN
        return None
    text = str(original).lower()
    if any(words in text for words in _SQLITE_BUSY):
        return Trouble.BUSY
    if any(words in text for words in _SQLITE_DOWN):
        return Trouble.DOWN
    if exc.connection_invalidated:  # PostgreSQL went away mid-request
        return Trouble.DOWN
    if sqlstate is None and "connection" in text and type(original).__name__ == "OperationalError":
        return Trouble.DOWN  # could not connect at all (refused, unknown host)
    return None


def disk_trouble(exc: OSError) -> bool:
    """A full, read-only or failing disk while storing evidence files."""
    return exc.errno in _DISK_ERRNOS


def describe(exc: BaseException) -> str:
    """For the log: the driver's own message, never the SQL statement and its parameters."""
    original = getattr(exc, "orig", None) or exc
    return f"{type(original).__name__}: {original}"
