"""Evidence files a unit attaches when it reports its work done.

Files are copied under ``GIAOVIEC_HOME/evidence/<plan>/<assignment>/`` with a name that cannot
climb out of that folder; the database keeps the path relative to ``GIAOVIEC_HOME``.
"""

from __future__ import annotations

import re
import shutil
import unicodedata
from pathlib import Path

from tracking.private import FILE_MODE, private_folder

ALLOWED_SUFFIXES = frozenset(
    {
        ".pdf",
        ".doc",
        ".docx",
        ".odt",
        ".xls",
        ".xlsx",
        ".ods",
        ".ppt",
        ".pptx",
        ".txt",
        ".jpg",
        ".jpeg",
        ".png",
        ".zip",
        ".rar",
        ".7z",
        ".mp4",
    }
)

_UNSAFE = re.compile(r"[^\w.\- ]+", re.UNICODE)


class EvidenceError(ValueError):
    """An evidence file that is refused; the message is for the user (Vietnamese)."""


def safe_name(name: str) -> str:
    """A file name with no folders, control or shell characters, at most 120 characters."""
    base = unicodedata.normalize("NFC", Path(name.replace("\\", "/")).name)
    cleaned = _UNSAFE.sub("_", base).strip(" .") or "tep"
    stem, suffix = Path(cleaned).stem, Path(cleaned).suffix.lower()
    return f"{stem[: 120 - len(suffix)]}{suffix}"


def check_evidence(name: str, size: int, max_bytes: int) -> str:
    """The safe name to store ``name`` under; raises ``EvidenceError`` if it is refused."""
    clean = safe_name(name)
    if Path(clean).suffix.lower() not in ALLOWED_SUFFIXES:
        allowed = ", ".join(sorted(ALLOWED_SUFFIXES))
        raise EvidenceError(f"Loại tệp “{Path(name).name}” không được nhận (chỉ nhận: {allowed}).")
    if size > max_bytes:
        megabytes, limit = size / 1e6, max_bytes / 1e6
        raise EvidenceError(
            f"Tệp “{Path(name).name}” quá lớn ({megabytes:.1f} MB; tối đa {limit:.0f} MB)."
        )
    if size == 0:
        raise EvidenceError(f"Tệp “{Path(name).name}” trống.")
    return clean


def evidence_folder(home: Path, plan_code: str, assignment_code: str) -> Path:
    return home / "evidence" / safe_name(plan_code) / safe_name(assignment_code)


def store_file(
    source: Path, home: Path, plan_code: str, assignment_code: str, max_bytes: int
) -> str:
    """Copy ``source`` into the evidence folder; returns its path relative to ``home``."""
    if not source.is_file():
        raise EvidenceError(f"Không tìm thấy tệp “{source}”.")
    clean = check_evidence(source.name, source.stat().st_size, max_bytes)
    folder = private_folder(evidence_folder(home, plan_code, assignment_code))
    target = _free_path(folder / clean)
    shutil.copyfile(source, target)
    target.chmod(FILE_MODE)  # a unit's evidence: readable by the service account only
    return target.relative_to(home).as_posix()


def _free_path(path: Path) -> Path:
    # Never overwrite earlier evidence: a second "bao-cao.pdf" becomes "bao-cao (2).pdf".
    candidate, n = path, 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.stem} ({n}){path.suffix}")
    return candidate
