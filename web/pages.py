"""The read pages: overview (with the timeline), the list, one assignment, evidence files."""

from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import Annotated, Any, TypeVar
from urllib.parse import urlencode

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse, HTMLResponse, Response
from sqlmodel import Session, select
from starlette.exceptions import HTTPException
from starlette.requests import Request

from models.enums import AssignmentState, Timeliness
from models.tables import Assignment, Dependency, Plan
from models.web_tables import User
from tracking import accounts, clock, store
from tracking.evidence import megabytes
from tracking.status import TRANSITIONS, Action
from web import gantt, labels, queries, views
from web.deps import AssignmentId, Ctx, WebContext, require_user
from web.rendering import render
from web.security import Forbidden

router = APIRouter()

# Rows on one page of the list: one or two screens. Plans run to a hundred duties; without
# pages, a plan of thousands would be one page of megabytes, slow to build and to read.
PAGE_SIZE = 50
# Items in each of the overview's overdue and due-soon lists; the heading counts them all
# and links to the full list.
SHORT_LIMIT = 15

# The order action forms appear in: the unit's own first, then the coordinator's decisions.
ACTION_ORDER = (
    Action.SUBMIT,
    Action.START,
    Action.BLOCK,
    Action.UNBLOCK,
    Action.CONFIRM,
    Action.RETURN,
    Action.EXTEND,
    Action.PAUSE,
    Action.RESUME,
    Action.CANCEL,
)


@router.get("/", response_class=HTMLResponse)
def overview(request: Request, ctx: Ctx, plan: Annotated[str | None, Query()] = None) -> Response:
    today = ctx.today()
    with ctx.session() as session:
        user = require_user(request, session)
        chosen = _choose_plan(session, plan)
        if chosen is None:
            return render(request, "empty.html", {"user": user})
        menu = queries.plan_menu(session)
        items = store.plan_status(session, today, chosen.code)
        calendar = store.load_calendar(session)
    counts, total = views.counts(items)
    root = clock.local_day(chosen.activated_at) if chosen.activated_at else None
    overdue = views.urgent(items, Timeliness.OVERDUE)
    due_soon = views.urgent(items, Timeliness.DUE_SOON)
    shown = [*overdue[:SHORT_LIMIT], *due_soon[:SHORT_LIMIT]]
    return render(
        request,
        "overview.html",
        {
            "user": user,
            "menu": menu,
            "plan": chosen,
            "today": today,
            "counts": counts,
            "total": total,
            "units": views.unit_progress(items),
            "overdue": overdue,
            "due_soon": due_soon,
            "short_limit": SHORT_LIMIT,
            "critical": views.critical_path(items),
            "countdown": views.countdown(chosen.event_date, today, calendar),
            # Only for the rows the short lists show: each is a walk over the calendar.
            "distance": {v.id: views.day_distance(v.due, today, calendar) for v in shown},
            "gantt": gantt.build(items, root, today, chosen.event_date),
            "gantt_px": {"row": gantt.ROW_HEIGHT, "bar": gantt.BAR_HEIGHT},
        },
    )


def _choose_plan(session: Session, ref: str | None) -> Plan | None:
    """The plan asked for (404 if unknown), else the active one; None when there is no plan."""
    if ref:
        try:
            return store.get_plan(session, ref)
        except store.NotFound as exc:
            if queries.default_plan(session) is None:
                return None  # no plan at all: the page that says so, whatever was asked
            raise HTTPException(404) from exc
    return queries.default_plan(session)


@router.get("/assignments", response_class=HTMLResponse)
def assignment_list(
    request: Request,
    ctx: Ctx,
    plan: Annotated[str | None, Query()] = None,
    unit: Annotated[str | None, Query()] = None,
    state: Annotated[str | None, Query()] = None,
    timeliness: Annotated[str | None, Query()] = None,
    sort: Annotated[str, Query()] = "code",
    order: Annotated[str, Query()] = "asc",
    page: Annotated[str | None, Query()] = None,
) -> Response:
    today = ctx.today()
    query = views.ListQuery(
        unit=unit or None,
        state=_enum_or_none(AssignmentState, state),
        timeliness=_enum_or_none(Timeliness, timeliness),
        sort=sort if sort in views.SORT_KEYS else "code",
        descending=order == "desc",
    )
    with ctx.session() as session:
        user = require_user(request, session)
        chosen = _choose_plan(session, plan)
        if chosen is None:
            return render(request, "empty.html", {"user": user})
        items = store.plan_status(session, today, chosen.code)
    units = sorted({(v.lead, v.lead_name) for v in items}, key=lambda u: u[1])
    matched = views.filter_and_sort(items, query)
    paging = views.Paging.of(len(matched), _page_number(page), PAGE_SIZE)
    return render(
        request,
        "list.html",
        {
            "user": user,
            "plan": chosen,
            "today": today,
            "items": matched[paging.first : paging.last],
            "matched": len(matched),
            "paging": paging,
            "page_link": _page_links(chosen.code, query, paging),
            "total": len(items),
            "query": query,
            "units": units,
            "states": list(AssignmentState),
            "timelinesses": list(labels.TIMELINESS_ORDER),
            "sort_keys": views.SORT_LABELS,
            "sort_link": _sort_links(chosen.code, query),
        },
    )


E = TypeVar("E", AssignmentState, Timeliness)


def _enum_or_none(kind: type[E], value: str | None) -> E | None:
    if not value:
        return None
    try:
        return kind(value)
    except ValueError:
        return None


def _page_number(value: str | None) -> int:
    # Anything but a positive number is the first page, as unknown filters are ignored.
    return int(value) if value and value.isdigit() and 0 < len(value) <= 9 else 1


def _filter_params(plan_code: str, query: views.ListQuery) -> dict[str, str]:
    base: dict[str, str] = {"plan": plan_code}
    if query.unit:
        base["unit"] = query.unit
    if query.state:
        base["state"] = query.state.value
    if query.timeliness:
        base["timeliness"] = query.timeliness.value
    return base


def _sort_links(plan_code: str, query: views.ListQuery) -> dict[str, str]:
    """Column header links: a click sorts by the column (from the first page), a second
    click reverses it."""
    base = _filter_params(plan_code, query)
    result = {}
    for key in views.SORT_KEYS:
        descending = key == query.sort and not query.descending
        params = {**base, "sort": key, "order": "desc" if descending else "asc"}
        result[key] = "/assignments?" + urlencode(params)
    return result


def _page_links(plan_code: str, query: views.ListQuery, paging: views.Paging) -> dict[str, str]:
    """The previous and next pages' links, keeping the filters and the sort."""
    base = {
        **_filter_params(plan_code, query),
        "sort": query.sort,
        "order": "desc" if query.descending else "asc",
    }
    links = {}
    if paging.number > 1:
        links["previous"] = "/assignments?" + urlencode({**base, "page": paging.number - 1})
    if paging.number < paging.pages:
        links["next"] = "/assignments?" + urlencode({**base, "page": paging.number + 1})
    return links


@router.get("/assignments/{assignment_id}", response_class=HTMLResponse)
def assignment_page(request: Request, ctx: Ctx, assignment_id: AssignmentId) -> Response:
    with ctx.session() as session:
        user = require_user(request, session)
        row = session.get(Assignment, assignment_id)
        if row is None:
            raise HTTPException(404)
        context = assignment_context(session, ctx, user, row)
    return render(request, "assignment.html", context)


def assignment_context(
    session: Session, ctx: WebContext, user: User, row: Assignment, **extra: Any
) -> dict[str, Any]:
    """Everything the assignment page shows (also used to re-show it with an error)."""
    assert row.id is not None
    today = ctx.today()
    plan = session.get(Plan, row.plan_id)
    assert plan is not None
    items = {v.id: v for v in store.plan_status(session, today, plan.code)}
    view = items[row.id]
    by_code = {v.code: v for v in items.values()}
    dependents = [
        items[d.assignment_id]
        for d in session.exec(select(Dependency).where(Dependency.prerequisite_id == row.id))
    ]
    dependents.sort(key=lambda v: v.code)
    calendar = store.load_calendar(session)
    permitted = accounts.allowed_actions(user, row)
    possible = [a for a in ACTION_ORDER if a in permitted and row.state in TRANSITIONS[a][0]]
    return {
        "user": user,
        "plan": plan,
        "row": row,
        "view": view,
        "today": today,
        "lead": store.get_department_by_id(session, row.lead_department_id),
        "cooperating": [store.get_department(session, code) for code in view.cooperating],
        "prerequisites": [by_code[code] for code in view.prerequisites if code in by_code],
        "dependents": dependents,
        "history": store.history(session, row.id),
        "actions": possible,
        "primary": _primary(possible),
        "evidence": [(i, Path(p).name) for i, p in enumerate(row.evidence)],
        "may_download": accounts.may_download_evidence(session, user, row),
        "distance": views.day_distance(row.due, today, calendar),
        "labels": labels,
        "max_size": megabytes(ctx.max_evidence_bytes),
        "error": None,
        "form": {},
        **extra,
    }


def _primary(possible: list[Action]) -> Action | None:
    """The form opened by default: what this person most likely came to do."""
    for action in (Action.CONFIRM, Action.SUBMIT, Action.UNBLOCK, Action.RESUME):
        if action in possible:
            return action
    return None


@router.get("/assignments/{assignment_id}/evidence/{index}")
def evidence_file(request: Request, ctx: Ctx, assignment_id: AssignmentId, index: int) -> Response:
    with ctx.session() as session:
        user = require_user(request, session)
        row = session.get(Assignment, assignment_id)
        if row is None or not 0 <= index < len(row.evidence):
            raise HTTPException(404)
        if not accounts.may_download_evidence(session, user, row):
            raise Forbidden(
                "Chỉ đơn vị chủ trì, đơn vị phối hợp, Ban Thi đua - Khen thưởng và lãnh đạo "
                "mới tải được minh chứng của nhiệm vụ này."
            )
        relative = row.evidence[index]
    path = _inside(ctx.home, relative)
    media = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    # Always a download, never shown in the page: an uploaded file must not act as our HTML.
    return FileResponse(
        path, media_type=media, filename=path.name, content_disposition_type="attachment"
    )


def _inside(home: Path, relative: str) -> Path:
    """The stored file, refusing any path that would leave the evidence folder."""
    root = (home / "evidence").resolve()
    path = (home / relative).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise HTTPException(404)
    return path
