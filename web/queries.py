"""The few reads the pages make straight in SQL, so a page's cost follows what it shows.

A province accumulates plans: at a thousand plans, loading every ``Plan`` row (with its JSON
columns) to fill the plan picker and pick the default cost more than the rest of the
overview. Here the picker reads codes and titles only, and the default plan is one row.
"""

from __future__ import annotations

import dataclasses

from sqlalchemy import func
from sqlmodel import Session, col, select

from models.tables import Plan

# Plans listed in the picker. Up to this many, a drop-down of every plan (as small installs
# always had); beyond it, a code field suggesting the newest ones, and the plans page.
PICKER_LIMIT = 50


@dataclasses.dataclass(frozen=True)
class PlanChoice:
    code: str
    title: str
    active: bool  # activated: reminders go out for it


@dataclasses.dataclass(frozen=True)
class PlanMenu:
    total: int
    plans: tuple[PlanChoice, ...]  # every plan when ``complete``, else the newest PICKER_LIMIT

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(p.code for p in self.plans)

    @property
    def complete(self) -> bool:
        return len(self.plans) == self.total


def plan_menu(session: Session, limit: int = PICKER_LIMIT) -> PlanMenu:
    visible = col(Plan.loading).is_(False)  # a plan still loading is not there yet
    total = session.exec(select(func.count()).select_from(Plan).where(visible)).one()
    newest = (
        select(Plan.code, Plan.title, Plan.activated_at)
        .where(visible)
        .order_by(col(Plan.loaded_at).desc(), col(Plan.code))
        .limit(limit)
    )
    choices = (
        PlanChoice(code, title, activated is not None)
        for code, title, activated in session.exec(newest)
    )
    return PlanMenu(total, tuple(sorted(choices, key=lambda c: c.code)))


def default_plan(session: Session) -> Plan | None:
    """The plan people are working on: the active one (the last activated, when several are;
    of those activated together, the last loaded), else the last loaded. A draft loaded after
    the live plan (an import being reviewed, an empty plan) must not take the dashboard's place.

    Of plans loaded together, the first by code (as ``max`` over the plans in code order
    picked it before).
    """
    active = (
        select(Plan)
        .where(col(Plan.activated_at).is_not(None))
        .order_by(col(Plan.activated_at).desc(), col(Plan.loaded_at).desc(), col(Plan.code))
        .limit(1)
    )
    found = session.exec(active).first()
    if found is not None:
        return found
    query = (
        select(Plan)
        .where(col(Plan.loading).is_(False))
        .order_by(col(Plan.loaded_at).desc(), col(Plan.code))
        .limit(1)
    )
    return session.exec(query).first()
