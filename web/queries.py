"""The few reads the pages make straight in SQL, so a page's cost follows what it shows.

A province accumulates plans: at a thousand plans, loading every ``Plan`` row (with its JSON
columns) to fill the plan picker and pick the default cost more than the rest of the
overview. Here the picker reads codes only, and the default plan is one indexed row.
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
class PlanMenu:
    total: int
    codes: tuple[str, ...]  # every code when ``complete``, else the newest PICKER_LIMIT

    @property
    def complete(self) -> bool:
        return len(self.codes) == self.total


def plan_menu(session: Session, limit: int = PICKER_LIMIT) -> PlanMenu:
    total = session.exec(select(func.count()).select_from(Plan)).one()
    newest = select(Plan.code).order_by(col(Plan.loaded_at).desc(), col(Plan.code)).limit(limit)
    codes = sorted(session.exec(newest))
    return PlanMenu(total, tuple(codes))


def newest_plan(session: Session) -> Plan | None:
    """The plan people are working on: the last loaded; of plans loaded together, the first
    by code (as ``max`` over the plans in code order picked it before)."""
    query = select(Plan).order_by(col(Plan.loaded_at).desc(), col(Plan.code)).limit(1)
    return session.exec(query).first()
