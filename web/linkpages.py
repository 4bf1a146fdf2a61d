"""Pages behind the signed links in reminders: a confirmation page, and its POST that acts.

Opening a link changes nothing (mail scanners and link previews open links too); only the
confirmation form's POST does the action, marks the link used, and both in one transaction.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session
from starlette.requests import Request

from models.tables import Assignment, Plan
from models.web_tables import UsedLink
from tracking import links, store
from tracking.evidence import megabytes
from tracking.status import ACTION_LABELS, TRANSITIONS
from web import labels
from web.actions import UserError, done_message, http_status, parse_form, perform, user_message
from web.deps import CHECKED_CSRF, Ctx, WebContext
from web.failures import Trouble, database_trouble
from web.labels import NEEDS_REASON, REASON_LABELS
from web.rendering import render

router = APIRouter()

_STATUS = {"invalid": 400, "expired": 410, "used": 410, "not_allowed": 403}


@router.get("/l/{token}", response_class=HTMLResponse)
def link_page(request: Request, ctx: Ctx, token: str) -> Response:
    with ctx.session() as session:
        try:
            target = links.resolve(session, token, ctx.now())
        except links.LinkError as exc:
            return _refused(request, session, ctx, token, exc)
        context = _context(session, ctx, target)
    return render(request, "link.html", context)


@router.post("/l/{token}", response_class=HTMLResponse, dependencies=[CHECKED_CSRF])
def use_link(
    request: Request,
    ctx: Ctx,
    token: str,
    note: Annotated[str | None, Form()] = None,
    reason: Annotated[str | None, Form()] = None,
    new_due: Annotated[str | None, Form()] = None,
    version: Annotated[str | None, Form()] = None,
    files: Annotated[list[UploadFile] | None, File()] = None,
) -> Response:
    now = ctx.now()
    try:
        with ctx.session() as session:
            try:
                target = links.resolve(session, token, now)
            except links.LinkError as exc:
                return _refused(request, session, ctx, token, exc)
            action = target.claim.action
            try:
                # The action is the link's, whatever the form says.
                form = parse_form(action.value, note, reason, new_due, version, files)
                row = perform(
                    session,
                    ctx,
                    target.assignment,
                    form,
                    target.actor,
                    then=lambda: links.consume(session, target, now),
                )
            except links.LinkError as exc:  # used by a second click in the same instant
                session.rollback()
                return _refused(request, session, ctx, token, exc)
            except UserError as exc:
                session.rollback()
                # A double click: the other click may have done the action meanwhile, and
                # this one failed on the state or version it changed. Say it is done.
                try:
                    fresh = links.resolve(session, token, now)
                except links.LinkError as used:
                    return _refused(request, session, ctx, token, used)
                context = _context(session, ctx, fresh)
                context.update(error=user_message(exc), note=note or "", reason=reason or "")
                return render(request, "link.html", context, http_status(exc))
            context = _context(session, ctx, target)
            context["done"] = done_message(row, action)
    except DBAPIError as exc:
        # SQLite: the other click's write made this transaction's snapshot stale ("database
        # is locked" at once, no waiting). If the link is used now, this click's answer is
        # the other's: done.
        if database_trouble(exc) is not Trouble.BUSY:
            raise
        with ctx.session() as session:
            done = _used_page(request, session, ctx, token)
        if done is None:
            raise
        return done
    return render(request, "link_done.html", context)


def _context(session: Session, ctx: WebContext, target: links.LinkTarget) -> dict[str, Any]:
    row = target.assignment
    plan = session.get(Plan, row.plan_id)
    assert plan is not None and row.id is not None
    view = next(v for v in store.plan_status(session, ctx.today(), plan.code) if v.id == row.id)
    action = target.claim.action
    return {
        "plan": plan,
        "row": row,
        "view": view,
        "target": target,
        "action": action,
        "action_label": links.LINK_LABELS[action],
        "action_verb": ACTION_LABELS[action],
        "possible": row.state in TRANSITIONS[action][0],
        "needs_reason": action in NEEDS_REASON,
        "reason_label": REASON_LABELS.get(action, "Lý do"),
        "labels": labels,
        "max_size": megabytes(ctx.max_evidence_bytes),
        "error": None,
        "note": "",
        "reason": "",
    }


def _refused(
    request: Request, session: Session, ctx: WebContext, token: str, exc: links.LinkError
) -> Response:
    if exc.reason == "used":
        done = _used_page(request, session, ctx, token)
        if done is not None:
            return done
    return render(
        request,
        "message.html",
        {"title": "Không dùng được liên kết", "message": str(exc)},
        _STATUS.get(exc.reason, 400),
    )


def _used_page(request: Request, session: Session, ctx: WebContext, token: str) -> Response | None:
    """The "already done" page of a used link: what it did, when, and where things stand now
    (what a second click, the back button or a reopened mail shows). None if not used."""
    try:
        claim = links.read_token(token, links.secret_key(), ctx.now())
    except links.LinkError:
        return None
    used = session.get(UsedLink, claim.nonce)
    row = session.get(Assignment, claim.assignment_id)
    plan = session.get(Plan, row.plan_id) if row is not None else None
    if used is None or row is None or plan is None:
        return None
    view = next(v for v in store.plan_status(session, ctx.today(), plan.code) if v.id == row.id)
    done = (
        f"Liên kết này đã được sử dụng: đã {ACTION_LABELS[claim.action]} nhiệm vụ {row.code} "
        f"lúc {labels.local_time(used.used_at)}. Mỗi liên kết chỉ dùng được một lần."
    )
    context = {"row": row, "view": view, "done": done, "title": "Đã thực hiện"}
    return render(request, "link_done.html", context, _STATUS["used"])
