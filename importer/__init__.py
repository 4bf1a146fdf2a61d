"""Drafting a plan file from a Kế hoạch as the office received it (.txt, .docx or .pdf).

``import_document(path, check=…)`` reads the document, finds its header, event facts, units
and every duty of its assignment section ("PHÂN CÔNG NHIỆM VỤ" / "TỔ CHỨC THỰC HIỆN") and of
its assignment tables, and writes a plan file that the caller's plan check
(``tracking.planio.check_plan_text``, passed in: this room imports ``models`` only) accepts,
each assignment traced back to the line it came from, every sentence of the assignment
section accounted for (in a duty, or listed as not understood). Pure: no database.

The steps are separate modules, each testable on its own: ``reading`` (document -> lines,
with the size and time limits), ``header`` (issuer, number, date, title, legal bases, event
facts), ``structure`` (sections and items), ``units`` (the gazetteer, names by their form,
one unit per spelling), ``duties`` (units, cooperation, duty splitting, the sentence
ledger), ``records`` (labelled fields and tables), ``timephrases`` (event time and
deadlines), ``draft`` (assembly) and ``render`` (YAML).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Generic, TypeVar

from importer.draft import Assignment, Draft, draft_plan
from importer.reading import SUPPORTED, Budget, DocumentError, read_lines
from importer.render import render_plan

C = TypeVar("C")

__all__ = [
    "SUPPORTED",
    "Assignment",
    "DocumentError",
    "Draft",
    "Imported",
    "draft_plan",
    "import_document",
    "read_lines",
    "render_plan",
]


@dataclasses.dataclass(frozen=True)
class Imported(Generic[C]):
    draft: Draft
    text: str  # the plan file
    checked: C  # the same text, checked as `giaoviec plan load` checks it


def import_document(
    path: Path,
    *,
    check: Callable[[bytes, str], C],
    code: str | None = None,
    name: str | None = None,
    register: Sequence[tuple[str, str]] = (),
) -> Imported[C]:
    """Draft the plan file of the document at ``path``.

    ``check`` is the plan-file check of ``giaoviec plan load`` (``check_plan_text``): the
    draft must pass it, and a ``ValueError`` from it is a bug of the importer, reported as
    such. ``code`` overrides the plan code derived from the document; ``name`` is the file
    name the plan file will have (used in check messages). Raises :class:`DocumentError`
    (Vietnamese message naming the document) when the document cannot be read or has no
    assignment. ``register`` is the units already in the database (code, name), matched
    against the spellings the document uses.
    """
    budget = Budget(path)
    lines = read_lines(path, budget)
    draft = draft_plan(
        lines,
        str(path),
        hard_wrapped=path.suffix.lower() in (".txt", ".pdf"),
        code=code,
        check=budget.check,
        register=register,
    )
    budget.check()
    text = render_plan(draft)
    try:
        checked = check(text.encode("utf-8"), name or f"{path.stem}.yaml")
    except ValueError as exc:  # a bug of the importer, not of the document
        raise DocumentError(
            f"{path}: bản nháp tạo ra không hợp lệ (lỗi của chương trình, xin báo lại):\n{exc}"
        ) from exc
    return Imported(draft, text, checked)
