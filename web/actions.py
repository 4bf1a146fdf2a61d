"""Lifecycle actions from the web: a signed-in user's forms (and, via ``perform``, links).

One action is one transaction: evidence files are checked all before any is stored, stored,
then ``tracking.store.act`` runs; if anything fails the transaction rolls back and the files
written for it are deleted, so a refused action leaves nothing behind.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session
from starlette.exceptions import HTTPException
from starlette.requests import Request

from models.dates import format_vn, parse_date
from models.tables import Assignment, Plan
from tracking import accounts, store
from tracking.evidence import HEAD_BYTES, EvidenceError, check_evidence, evidence_folder
from tracking.private import open_exclusive, private_folder
from tracking.status import ACTION_LABELS, Action, IllegalTransition
from web.deps import CHECKED_CSRF, MAX_FILES, AssignmentId, Ctx, WebContext, require_user
from web.labels import NEEDS_REASON, REASON_LABELS
from web.pages import assignment_context
from web.rendering import render
from web.security import Forbidden, flash

router = APIRouter()

MAX_TEXT = 4000  # characters in a note or reason: a paragraph, not a report

UserError = (
    store.InvalidAction,
    store.NotFound,
    store.ConcurrentUpdate,
    IllegalTransition,
    EvidenceError,
)


@dataclasses.dataclass(frozen=True)
class ActionForm:
    """A checked action form."""

    action: Action
    note: str | None
    reason: str | None
    new_due: dt.date | None
    version: int | None
    files: tuple[UploadFile, ...]


def parse_form(
    action: str,
    note: str | None,
    reason: str | None,
    new_due: str | None,
    version: str | None,
    files: list[UploadFile] | None,
) -> ActionForm:
    """The form as an action request; raises ``InvalidAction`` with a message for the user."""
    try:
        chosen = Action(action)
    except ValueError as exc:
        raise store.InvalidAction("Thao tác không hợp lệ.") from exc
    note_text, reason_text = _text(note), _text(reason)
    if chosen in NEEDS_REASON and not reason_text:
        raise store.InvalidAction(f"Cần ghi {REASON_LABELS[chosen].lower()}.")
    due = None
    if chosen is Action.EXTEND:
        if not (new_due or "").strip():
            raise store.InvalidAction("Cần chọn hạn mới khi gia hạn.")
        try:
            due = parse_date(new_due or "")
        except ValueError as exc:
            raise store.InvalidAction(str(exc).capitalize() + ".") from exc
    # A file input left empty still sends one nameless part.
    uploads = tuple(f for f in files or [] if f.filename)
    if uploads and chosen is not Action.SUBMIT:
        raise store.InvalidAction("Chỉ đính kèm minh chứng khi báo cáo hoàn thành.")
    if len(uploads) > MAX_FILES:
        raise store.InvalidAction(f"Mỗi lần gửi tối đa {MAX_FILES} tệp minh chứng.")
    return ActionForm(
        chosen,
        note_text,
        reason_text,
        due,
        int(version) if version and version.isdigit() else None,
        uploads,
    )


def _text(value: str | None) -> str | None:
    text = (value or "").strip()
    if "\x00" in text:  # PostgreSQL cannot store it: refuse it here with a clear message
        raise store.InvalidAction("Nội dung chứa ký tự không hợp lệ (NUL).")
    if len(text) > MAX_TEXT:
        raise store.InvalidAction(f"Nội dung quá dài (tối đa {MAX_TEXT} ký tự).")
    return text or None


def user_message(exc: Exception) -> str:
    """The store's message without its command-line hints ("(--reason)")."""
    return re.sub(r"\s*\(--[^)]*\)", "", str(exc))


def perform(
    session: Session,
    ctx: WebContext,
    row: Assignment,
    form: ActionForm,
    actor: str,
    then: Callable[[], None] | None = None,
) -> Assignment:
    """Store the evidence and apply the action, in the caller's transaction.

    ``then`` runs after the action, still inside it (a link marks itself used there): if it
    fails, the files are removed like for any failed action.
    """
    plan = session.get(Plan, row.plan_id)
    assert plan is not None and row.id is not None
    sizes = [_size(upload) for upload in form.files]
    names = [
        check_evidence(upload.filename or "", size, ctx.max_evidence_bytes, _head(upload))
        for upload, size in zip(form.files, sizes, strict=True)
    ]
    stored: list[Path] = []
    try:
        for upload, name in zip(form.files, names, strict=True):
            stored.append(_save(upload, name, evidence_folder(ctx.home, plan.code, row.code)))
        request = store.ActionRequest(
            form.action,
            actor,
            note=form.note,
            reason=form.reason,
            new_due=form.new_due,
            evidence=[p.relative_to(ctx.home).as_posix() for p in stored],
            expected_version=form.version,
        )
        done = store.act(session, str(row.id), request, ctx.today())
        if then is not None:
            then()
        return done
    except BaseException:
        for path in stored:  # the action did not happen: keep no file of it
            path.unlink(missing_ok=True)
        raise


def _size(upload: UploadFile) -> int:
    # Measured, not trusted from the request: the file is already spooled here.
    upload.file.seek(0, 2)
    size = upload.file.tell()
    upload.file.seek(0)
    return size


def _head(upload: UploadFile) -> bytes:
    head = upload.file.read(HEAD_BYTES)
    upload.file.seek(0)
    return head


def _save(upload: UploadFile, name: str, folder: Path) -> Path:
    """Write under a free name; "xb" never overwrites, even when two uploads race."""
    private_folder(folder)  # evidence is readable by the service account only (0700/0600)
    stem, suffix = Path(name).stem, Path(name).suffix
    for n in range(1, 1000):
        target = folder / (name if n == 1 else f"{stem} ({n}){suffix}")
        try:
            with open_exclusive(target) as out:
                shutil.copyfileobj(upload.file, out)
            return target
        except FileExistsError:
            continue
    raise EvidenceError(f"Không lưu được tệp “{name}”: đã có quá nhiều tệp cùng tên.")


def done_message(row: Assignment, action: Action) -> str:
    text = f"Đã {ACTION_LABELS[action]} nhiệm vụ {row.code}"
    if action is Action.EXTEND:
        text += f" đến {format_vn(row.due)}"
    return text + "."


@router.post("/assignments/{assignment_id}/act", dependencies=[CHECKED_CSRF])
def act_on_assignment(
    request: Request,
    ctx: Ctx,
    assignment_id: AssignmentId,
    action: Annotated[str, Form()] = "",
    note: Annotated[str | None, Form()] = None,
    reason: Annotated[str | None, Form()] = None,
    new_due: Annotated[str | None, Form()] = None,
    version: Annotated[str | None, Form()] = None,
    files: Annotated[list[UploadFile] | None, File()] = None,
) -> Response:
    with ctx.session() as session:
        user = require_user(request, session)
        row = session.get(Assignment, assignment_id)
        if row is None:
            raise HTTPException(404)
        try:
            form = parse_form(action, note, reason, new_due, version, files)
            if form.action not in accounts.allowed_actions(user, row):
                raise Forbidden(
                    f"Tài khoản {user.username} không được {ACTION_LABELS[form.action]} "
                    f"nhiệm vụ {row.code}: chỉ đơn vị chủ trì hoặc Ban Thi đua - Khen thưởng "
                    "mới làm được."
                )
            row = perform(session, ctx, row, form, accounts.actor_name(user))
        except UserError as exc:
            session.rollback()
            fresh = session.get(Assignment, assignment_id)
            assert fresh is not None
            context = assignment_context(
                session,
                ctx,
                user,
                fresh,
                error=user_message(exc),
                form={"action": action, "note": note or "", "reason": reason or ""},
            )
            status = 409 if isinstance(exc, store.ConcurrentUpdate) else 400
            return render(request, "assignment.html", context, status)
        flash(request, done_message(row, form.action))
    return RedirectResponse(f"/assignments/{assignment_id}", status_code=303)
