"""Replaying a plan day by day: scripted actions, then the same daily sweep the schedule runs."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import yaml
from pydantic import ValidationError
from sqlmodel import Session, select

from models.dates import format_vn
from models.enums import DeliveryStatus
from models.script import Script, ScriptStep
from models.tables import OutboxMessage
from services.day import SweepResult, sweep_day
from tracking import store
from tracking.planio import PlanFileError, Problem
from tracking.status import Action

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from tracking.settings import Settings


@dataclasses.dataclass(frozen=True)
class DayReport:
    day: dt.date
    sweep: SweepResult
    actions: list[str]  # what the script did that day, as sentences
    sent: Counter[tuple[str, str]]  # (kind, channel) → messages sent that day


def read_script(path: Path) -> list[ScriptStep]:
    """Parse a script file; errors name the file and the step, like plan-file errors."""
    name = str(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise PlanFileError([Problem(name, None, "", f"không đọc được kịch bản: {exc}")]) from exc
    try:
        return Script.model_validate({"steps": data or []}).steps
    except ValidationError as exc:
        problems = [
            Problem(name, None, ".".join(str(p) for p in e["loc"]), e["msg"])
            for e in exc.errors(include_url=False)
        ]
        raise PlanFileError(problems) from exc


def simulate(
    engine: Engine,
    first: dt.date,
    last: dt.date,
    settings: Settings,
    steps: Sequence[ScriptStep] = (),
) -> Iterator[DayReport]:
    """Each day from ``first`` to ``last``: the script's actions, then the daily sweep."""
    day = first
    while day <= last:
        done = [_apply(engine, step) for step in steps if step.day == day]
        result = sweep_day(engine, day, settings)
        yield DayReport(day, result, done, _sent_on(engine, day))
        day += dt.timedelta(days=1)


def _apply(engine: Engine, step: ScriptStep) -> str:
    request = store.ActionRequest(
        Action(step.action), step.by, note=step.note, reason=step.reason, new_due=step.to
    )
    with Session(engine, expire_on_commit=False) as session:
        try:
            row = store.act(session, step.assignment, request, step.day)
        except store.InvalidAction as exc:
            # The store's rule, with the step it refused: the script's author fixes that line.
            raise store.InvalidAction(
                f"Kịch bản, ngày {format_vn(step.day)} ({step.action} {step.assignment}): {exc}",
                field=exc.field,
            ) from exc
        session.commit()
    return f"{step.by}: {step.action} {row.code}"


def _sent_on(engine: Engine, day: dt.date) -> Counter[tuple[str, str]]:
    """Messages of ``day`` that have gone out: the day's reminders and the actions' notices."""
    with Session(engine) as session:
        rows = session.exec(
            select(OutboxMessage).where(
                OutboxMessage.day == day, OutboxMessage.status == DeliveryStatus.SENT
            )
        )
        return Counter((r.kind.value, r.channel.value) for r in rows)
