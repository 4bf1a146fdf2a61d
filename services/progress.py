"""Progress per lead unit: the one model the flows, the web and the CLI show.

An assignment counts in the Government Office's split by ``tracking.status.timeliness``
(paused and cancelled work has none and is not counted). :func:`unit_progress` counts a plan's
views in Python (the web page, the dashboard, the weekly report); :func:`progress_rows` has
the database count every plan at once (``tracking.progress``, the daily sweep). A test holds
the two equal.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping

from sqlmodel import Session, select

from models.enums import Timeliness
from models.tables import Plan
from tracking import progress, store
from tracking.store import AssignmentView

DONE = frozenset({Timeliness.DONE_ON_TIME, Timeliness.DONE_LATE})


@dataclasses.dataclass(frozen=True)
class UnitProgress:
    """How one lead unit's assignments stand today, in the Government Office's split."""

    code: str
    name: str
    counts: Mapping[Timeliness, int]

    def count(self, timeliness: Timeliness) -> int:
        return self.counts.get(timeliness, 0)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def done(self) -> int:
        return sum(n for key, n in self.counts.items() if key in DONE)

    @property
    def overdue(self) -> int:
        return self.count(Timeliness.OVERDUE)


@dataclasses.dataclass(frozen=True)
class PlanProgress:
    plan_code: str
    plan_title: str
    day: dt.date
    units: tuple[UnitProgress, ...]


def unit_progress(views: Iterable[AssignmentView]) -> tuple[UnitProgress, ...]:
    """Counts per lead unit, units in the order their first assignment appears in the plan.

    Paused and cancelled work has no timeliness and is not counted (as in ``status``).
    """
    names: dict[str, str] = {}
    counts: dict[str, dict[Timeliness, int]] = {}
    for view in views:
        names.setdefault(view.lead, view.lead_name)
        unit = counts.setdefault(view.lead, {})
        if view.timeliness is not None:
            unit[view.timeliness] = unit.get(view.timeliness, 0) + 1
    return tuple(UnitProgress(code, names[code], counts[code]) for code in names)


def counted_units(views: Iterable[AssignmentView]) -> list[UnitProgress]:
    """The units with counted work, by name: the bars of the web page and the dashboard."""
    return sorted((u for u in unit_progress(views) if u.total), key=lambda u: u.name)


def progress_rows(session: Session, day: dt.date) -> list[PlanProgress]:
    """Every plan's counts per lead unit as of ``day``, counted by the database at once."""
    calendar = store.load_calendar(session)
    counted = progress.unit_counts(session, day, calendar)
    plans = session.connection().execute(select(Plan.id, Plan.code, Plan.title).order_by(Plan.code))
    return [
        PlanProgress(
            code,
            title,
            day,
            tuple(UnitProgress(u.code, u.name, u.counts) for u in counted.get(plan_id, [])),
        )
        for plan_id, code, title in plans
    ]


def totals(units: Iterable[UnitProgress]) -> dict[Timeliness, int]:
    result: dict[Timeliness, int] = {}
    for unit in units:
        for key, value in unit.counts.items():
            result[key] = result.get(key, 0) + value
    return result
