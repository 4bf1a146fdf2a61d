"""An action on an assignment with its evidence files: one transaction, no file left behind.

The CLI (``giaoviec submit --evidence``), the web form and the one-time link all call
:func:`act_with_evidence`. Every file is checked (type, size, content) before any is stored;
they are written under free names in the assignment's evidence folder, then the action runs
in the caller's transaction. If anything fails — a refused file, the state machine, a
concurrent update, the caller's ``then`` — the files written for it are deleted, so a refused
action leaves nothing behind; the caller rolls the transaction back.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import shutil
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import BinaryIO

from sqlmodel import Session

from models.tables import Assignment, Plan
from tracking import store
from tracking.evidence import (
    HEAD_BYTES,
    EvidenceError,
    check_evidence,
    evidence_folder,
    read_head,
)
from tracking.private import open_exclusive, private_folder

_MAX_SAME_NAME = 1000


@dataclasses.dataclass(frozen=True)
class EvidenceFile:
    """One file given as evidence, whatever brought it (a path, an upload).

    ``open`` gives its content from the start (each time); ``size`` and ``head`` (its first
    ``HEAD_BYTES``) are measured by the interface, never trusted from the sender.
    """

    name: str
    size: int
    head: bytes
    open: Callable[[], AbstractContextManager[BinaryIO]]

    @classmethod
    def from_path(cls, path: Path) -> EvidenceFile:
        if not path.is_file():
            raise EvidenceError(f"Không tìm thấy tệp “{path}”.")
        return cls(path.name, path.stat().st_size, read_head(path), lambda: path.open("rb"))

    @classmethod
    def from_stream(cls, name: str, stream: BinaryIO) -> EvidenceFile:
        """A seekable stream (an upload already spooled): measured here, rewound for reading."""
        stream.seek(0, 2)
        size = stream.tell()
        stream.seek(0)
        head = stream.read(HEAD_BYTES)
        stream.seek(0)
        return cls(name, size, head, lambda: _from_start(stream))


@contextlib.contextmanager
def _from_start(stream: BinaryIO) -> Iterator[BinaryIO]:
    # Borrowed, not owned: the interface closes it (an upload is closed with its request).
    stream.seek(0)
    yield stream


def act_with_evidence(
    session: Session,
    row: Assignment,
    request: store.ActionRequest,
    files: Sequence[EvidenceFile],
    *,
    home: Path,
    max_bytes: int,
    today: dt.date,
    then: Callable[[], None] | None = None,
) -> Assignment:
    """Store ``files`` as the action's evidence and apply ``request`` to ``row``.

    Runs in the caller's transaction; ``request.evidence`` is replaced by the stored files'
    paths (relative to ``home``). ``then`` runs after the action, still inside it (a link marks
    itself used there): if it fails, the files are removed like for any failed action.
    """
    plan = session.get(Plan, row.plan_id)
    assert plan is not None and row.id is not None
    names = [check_evidence(f.name, f.size, max_bytes, f.head) for f in files]
    folder = evidence_folder(home, plan.code, row.code)
    stored: list[Path] = []
    try:
        for file, name in zip(files, names, strict=True):
            stored.append(save_file(file, name, folder))
        request = dataclasses.replace(
            request, evidence=[p.relative_to(home).as_posix() for p in stored]
        )
        done = store.act(session, str(row.id), request, today)
        if then is not None:
            then()
        return done
    except BaseException:
        for path in stored:  # the action did not happen: keep no file of it
            path.unlink(missing_ok=True)
        raise


def save_file(file: EvidenceFile, name: str, folder: Path) -> Path:
    """Write under a free name; "xb" never overwrites, even when two uploads race."""
    private_folder(folder)  # evidence is readable by the service account only (0700/0600)
    stem, suffix = Path(name).stem, Path(name).suffix
    for n in range(1, _MAX_SAME_NAME):
        target = folder / (name if n == 1 else f"{stem} ({n}){suffix}")
        try:
            with open_exclusive(target) as out, file.open() as source:
                shutil.copyfileobj(source, out)
            return target
        except FileExistsError:
            continue
    raise EvidenceError(f"Không lưu được tệp “{name}”: đã có quá nhiều tệp cùng tên.")
