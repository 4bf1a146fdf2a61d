"""Lifecycle actions from the web: a signed-in user's forms (and, via ``perform``, links).

One action is one transaction: evidence files are checked all before any is stored, stored,
then ``tracking.store.act`` runs; if anything fails the transaction rolls back and the files
written for it are deleted, so a refused action leaves nothing behind.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session
from starlette.exceptions import HTTPException
from starlette.requests import Request

from models import errors
from models.dates import format_vn, parse_date
from models.tables import Assignment
from services.actions import EvidenceFile, act_with_evidence
from tracking import accounts, store
from tracking.status import ACTION_LABELS, Action
from web.deps import CHECKED_CSRF, MAX_FILES, AssignmentId, Ctx, WebContext, require_user
from web.labels import NEEDS_REASON, REASON_LABELS
from web.pages import assignment_context
from web.rendering import render
from web.security import Forbidden, flash

router = APIRouter()

MAX_TEXT = 4000  # characters in a note or reason: a paragraph, not a report

# Every error the user can fix (models.errors): shown on the page, HTTP 400 or 409.
UserError = errors.UserError


def http_status(exc: errors.UserError) -> int:
    """The HTTP status of a user error: 409 when someone else changed the record, else 400."""
    return 409 if isinstance(exc, errors.ConflictError) else 400


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
    """A user error as the web shows it: its message (which names no interface's flags)."""
    return str(exc)


def perform(
    session: Session,
    ctx: WebContext,
    row: Assignment,
    form: ActionForm,
    actor: str,
    then: Callable[[], None] | None = None,
) -> Assignment:
    """The form's action with its files, in the caller's transaction (``services.actions``)."""
    request = store.ActionRequest(
        form.action,
        actor,
        note=form.note,
        reason=form.reason,
        new_due=form.new_due,
        expected_version=form.version,
    )
    files = [EvidenceFile.from_stream(u.filename or "", u.file) for u in form.files]
    return act_with_evidence(
        session,
        row,
        request,
        files,
        home=ctx.home,
        max_bytes=ctx.max_evidence_bytes,
        today=ctx.today(),
        then=then,
    )


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
            return render(request, "assignment.html", context, http_status(exc))
        flash(request, done_message(row, form.action))
    return RedirectResponse(f"/assignments/{assignment_id}", status_code=303)
