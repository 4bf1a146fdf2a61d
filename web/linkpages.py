"""Pages behind the signed links in reminders: a confirmation page, and its POST that acts.

Opening a link changes nothing (mail scanners and link previews open links too); only the
confirmation form's POST does the action, marks the link used, and both in one transaction.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session
from starlette.requests import Request

from models.tables import Plan
from tracking import links, store
from tracking.status import ACTION_LABELS, TRANSITIONS
from web import labels
from web.actions import UserError, done_message, parse_form, perform, user_message
from web.app import WebContext, ctx_of, render
from web.labels import NEEDS_REASON, REASON_LABELS
from web.security import check_csrf

router = APIRouter()

_STATUS = {"invalid": 400, "expired": 410, "used": 410, "not_allowed": 403}


@router.get("/l/{token}", response_class=HTMLResponse)
def link_page(request: Request, token: str) -> Response:
    ctx = ctx_of(request)
    with ctx.session() as session:
        try:
            target = links.resolve(session, token, ctx.now())
        except links.LinkError as exc:
            return _refused(request, exc)
        context = _context(session, ctx, target)
    return render(request, "link.html", context)


@router.post("/l/{token}", response_class=HTMLResponse)
def use_link(
    request: Request,
    token: str,
    csrf_token: Annotated[str, Form()] = "",
    note: Annotated[str | None, Form()] = None,
    reason: Annotated[str | None, Form()] = None,
    new_due: Annotated[str | None, Form()] = None,
    version: Annotated[str | None, Form()] = None,
    files: Annotated[list[UploadFile] | None, File()] = None,
) -> Response:
    check_csrf(request, csrf_token)
    ctx = ctx_of(request)
    now = ctx.now()
    with ctx.session() as session:
        try:
            target = links.resolve(session, token, now)
        except links.LinkError as exc:
            return _refused(request, exc)
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
            return _refused(request, exc)
        except UserError as exc:
            session.rollback()
            fresh = links.resolve(session, token, now)
            context = _context(session, ctx, fresh)
            context.update(error=user_message(exc), note=note or "", reason=reason or "")
            status = 409 if isinstance(exc, store.ConcurrentUpdate) else 400
            return render(request, "link.html", context, status)
        context = _context(session, ctx, target)
        context["done"] = done_message(row, action)
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
        "max_mb": ctx.max_evidence_bytes / 1e6,
        "error": None,
        "note": "",
        "reason": "",
    }


def _refused(request: Request, exc: links.LinkError) -> Response:
    return render(
        request,
        "message.html",
        {"title": "Không dùng được liên kết", "message": str(exc)},
        _STATUS.get(exc.reason, 400),
    )
