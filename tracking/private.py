"""Files under GIAOVIEC_HOME that only the service account may read.

The database, evidence files and the .eml files (which hold one-click links that act in a
unit's name) are private: files 0600, folders 0700, whatever the process umask. Every writer
of such a file goes through here.
"""

from __future__ import annotations

import contextlib
import os
import stat
import uuid
from pathlib import Path
from typing import BinaryIO

FILE_MODE = 0o600
FOLDER_MODE = 0o700


def private_folder(path: Path) -> Path:
    """Create ``path`` and any missing parent as 0700 folders; returns ``path``."""
    missing: list[Path] = []
    current = path
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):  # another process made it meanwhile
            folder.mkdir(mode=FOLDER_MODE)
        # mkdir's mode is filtered by the umask; chmod is not.
        folder.chmod(FOLDER_MODE)
    return path


def write_private(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` as a 0600 file, atomically (never a half-written file)."""
    private_folder(path.parent)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        temporary.chmod(FILE_MODE)
        temporary.replace(path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path


def create_private_file(path: Path) -> None:
    """Make sure ``path`` exists as a file only its owner can read (e.g. before SQLite opens
    it: SQLite gives its -wal and -shm files the database file's permissions). A file left
    readable by an older version, and its -wal and -shm companions, are restricted too."""
    private_folder(path.parent)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    for companion in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        restrict(companion)


def restrict(path: Path) -> None:
    """Take group and other permissions off an existing file or folder (one made by an older
    version); one owned by someone else is left as it is."""
    with contextlib.suppress(FileNotFoundError, PermissionError):
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            path.chmod(mode & 0o700)


def open_exclusive(path: Path) -> BinaryIO:
    """A new 0600 file opened for writing, like ``open(path, "xb")`` (FileExistsError when it
    exists: never overwrites)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    return os.fdopen(fd, "wb")
