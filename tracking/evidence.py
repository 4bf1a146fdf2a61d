"""Evidence files a unit attaches when it reports its work done: the rules (type, size, content,
a safe name, where they go). Storing them with the action is ``services.actions``.

Files are copied under ``GIAOVIEC_HOME/evidence/<plan>/<assignment>/`` with a name that cannot
climb out of that folder; the database keeps the path relative to ``GIAOVIEC_HOME``.
"""

from __future__ import annotations

import math
import re
import unicodedata
from pathlib import Path

import filetype

from models.errors import FileProblem

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

# What the first bytes of each accepted type may be, as named by ``filetype`` (plus "ole" for
# the Office 97-2003 container, which filetype does not always name). Word/Excel/PowerPoint
# and OpenDocument files are zip containers: any zip kind is accepted for them.
HEAD_BYTES = 8192  # enough for every signature below
_OLE_MAGIC = bytes.fromhex("d0cf11e0a1b11ae1")
_ZIP_KINDS = frozenset({"zip", "docx", "xlsx", "pptx", "odt", "ods", "odp", "epub"})
_OLE_KINDS = frozenset({"ole", "doc", "xls", "ppt"})
_CONTENT_KINDS: dict[str, frozenset[str]] = {
    ".pdf": frozenset({"pdf"}),
    ".doc": _OLE_KINDS,
    ".xls": _OLE_KINDS,
    ".ppt": _OLE_KINDS,
    ".docx": _ZIP_KINDS,
    ".xlsx": _ZIP_KINDS,
    ".pptx": _ZIP_KINDS,
    ".odt": _ZIP_KINDS,
    ".ods": _ZIP_KINDS,
    ".jpg": frozenset({"jpg"}),
    ".jpeg": frozenset({"jpg"}),
    ".png": frozenset({"png"}),
    ".zip": frozenset({"zip"}),
    ".rar": frozenset({"rar"}),
    ".7z": frozenset({"7z"}),
    ".mp4": frozenset({"mp4", "m4v", "mov", "3gp"}),
}
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")

_UNSAFE = re.compile(r"[^\w.\- ]+", re.UNICODE)


class EvidenceError(FileProblem):
    """An evidence file that is refused; the message is for the user (Vietnamese)."""


def safe_name(name: str) -> str:
    """A file name with no folders, control or shell characters, at most 120 characters."""
    base = unicodedata.normalize("NFC", Path(name.replace("\\", "/")).name)
    cleaned = _UNSAFE.sub("_", base).strip(" .") or "tep"
    stem, suffix = Path(cleaned).stem, Path(cleaned).suffix.lower()
    return f"{stem[: 120 - len(suffix)]}{suffix}"


def megabytes(size: int, round_up: bool = False) -> str:
    """A size as people read it: binary megabytes (as Windows Explorer shows "MB"), with a
    Vietnamese decimal comma; "20 MB" for the 20 MiB limit. ``round_up`` for a size refused as
    too large, so it never reads as equal to the limit ("20,1 MB", not "20,0 MB")."""
    tenths = size / 2**20 * 10
    value = (math.ceil(tenths) if round_up else round(tenths)) / 10
    text = f"{value:.0f}" if value == int(value) else f"{value:.1f}".replace(".", ",")
    return f"{text} MB"


def content_kind(head: bytes) -> str | None:
    """What the first bytes say the file is ("pdf", "zip", "ole"…), None when unrecognised."""
    if head.startswith(_OLE_MAGIC):
        return "ole"
    kind = filetype.guess_extension(head)
    return kind if isinstance(kind, str) else None


def check_evidence(name: str, size: int, max_bytes: int, head: bytes) -> str:
    """The safe name to store ``name`` under; raises ``EvidenceError`` if it is refused.

    ``head`` is the file's first ``HEAD_BYTES``: the content must be of the type its name
    says (a program renamed ".pdf" is refused), not only carry an accepted extension.
    """
    clean = safe_name(name)
    shown = Path(name).name
    suffix = Path(clean).suffix.lower()
    if suffix not in ALLOWED_SUFFIXES:
        allowed = ", ".join(sorted(ALLOWED_SUFFIXES))
        raise EvidenceError(f"Loại tệp “{shown}” không được nhận (chỉ nhận: {allowed}).")
    if size > max_bytes:
        raise EvidenceError(
            f"Tệp “{shown}” quá lớn ({megabytes(size, round_up=True)}; "
            f"tối đa {megabytes(max_bytes)})."
        )
    if size == 0:
        raise EvidenceError(f"Tệp “{shown}” trống.")
    if not _content_matches(suffix, head):
        raise EvidenceError(
            f"Nội dung tệp “{shown}” không đúng loại {suffix} mà tên tệp ghi; hãy gửi đúng tệp gốc."
        )
    return clean


def _content_matches(suffix: str, head: bytes) -> bool:
    kind = content_kind(head)
    if suffix == ".txt":
        # Plain text has no signature: accept what is not a known binary type and holds no
        # NUL byte (UTF-16 text, with its byte-order mark, is text too).
        return kind is None and (b"\x00" not in head or head.startswith(_UTF16_BOMS))
    return kind in _CONTENT_KINDS[suffix]


def read_head(path: Path) -> bytes:
    with path.open("rb") as handle:
        return handle.read(HEAD_BYTES)


def evidence_folder(home: Path, plan_code: str, assignment_code: str) -> Path:
    return home / "evidence" / safe_name(plan_code) / safe_name(assignment_code)
