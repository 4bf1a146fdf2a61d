"""One run at a time of a scheduled job (the sweep, delivery, the weekly report), across
processes and machines, by a lock that dies with its holder.

Prefect's deployment concurrency limits did this before and did not survive a restart: the
slot of a run killed with ``giaoviec serve`` stayed taken in the server's database while the
lease that would have freed it lived in the server's memory, so every later run waited or was
cancelled for good. This lock lives where giaoviec's data lives and the operating system or
the database frees it the moment its holder dies, however it dies:

- PostgreSQL: a session advisory lock on a connection of its own, released when that
  connection closes (a killed process's socket is closed by the kernel);
- SQLite (one machine by definition): an ``flock`` on a file beside the database file,
  released by the kernel when the process exits;
- an in-memory SQLite database lives in one process only: nothing to exclude.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

POLL_SECONDS = 0.5


@contextlib.contextmanager
def hold(engine: Engine, name: str, *, wait_seconds: float = 0.0) -> Iterator[bool]:
    """Hold the lock ``name`` for the block; yields False (without it) when another process
    still held it after ``wait_seconds``. The caller decides what a busy lock means."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            acquired = _poll(lambda: _pg_try(connection, name), wait_seconds)
            try:
                yield acquired
            finally:
                if acquired:
                    _pg_release(connection, name)
        return
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        yield True
        return
    path = Path(f"{database}.{name}.lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        acquired = _poll(lambda: _flock_try(fd), wait_seconds)
        try:
            yield acquired
        finally:
            if acquired:
                fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _poll(attempt: Callable[[], bool], wait_seconds: float) -> bool:
    """Try at once, then every POLL_SECONDS until ``wait_seconds`` have passed."""
    deadline = time.monotonic() + wait_seconds
    while True:
        if attempt():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_SECONDS)


def lock_key(name: str) -> int:
    """A stable 32-bit key for ``name`` (advisory locks are numbered)."""
    return zlib.crc32(f"giaoviec:{name}".encode())


def _pg_try(connection: Connection, name: str) -> bool:
    acquired = connection.execute(
        text("SELECT pg_try_advisory_lock(:key)"), {"key": lock_key(name)}
    ).scalar_one()
    # Outside a transaction: the session-level lock outlives it, and an idle connection
    # holds no snapshot that would keep VACUUM from its work.
    connection.commit()
    return bool(acquired)


def _pg_release(connection: Connection, name: str) -> None:
    connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": lock_key(name)})
    connection.commit()


def _flock_try(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True
