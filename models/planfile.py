"""The plan file (YAML) schema: what an operator writes to describe a Kế hoạch.

Only shape and per-field checks live here; cross-references (unknown unit, unknown
prerequisite, cycles) are checked by ``tracking.planio`` where line numbers are known.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from models.dates import check_date, parse_date
from models.text import clean


def _date_or_text(value: Any) -> Any:
    # YAML already turns 2024-03-15 into a date; dd/mm/yyyy arrives as text. Either way it
    # must be within the calendar's years: to YAML, 2204-03-15 is a date too.
    if isinstance(value, str):
        return parse_date(value)
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return check_date(value)
    return value


def _no_control_characters(value: str) -> str:
    # PostgreSQL refuses NUL in text (the load would fail after the checks passed), and other
    # control characters (ESC…) would reach terminals and messages as they are. Tabs and line
    # breaks are ordinary text.
    for char in value:
        if unicodedata.category(char) == "Cc" and char not in "\t\n\r":
            raise ValueError(f"chứa ký tự điều khiển không được phép (U+{ord(char):04X})")
    return value


def _cleaned(value: Any) -> Any:
    # Names and codes are compared as stored: one canonical form (models.text.clean), so a
    # file saved in NFD or with a zero-width space names the same units and people.
    return clean(value) if isinstance(value, str) else value


PlanDate = Annotated[dt.date, BeforeValidator(_date_or_text)]
Code = Annotated[
    str, BeforeValidator(_cleaned), Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
]
Plain = Annotated[str, AfterValidator(_no_control_characters)]
# Each text's limit is its database column's (models.tables): SQLite stores longer text, but
# PostgreSQL refuses it, so a longer value must be refused here, with its line.
Text = Annotated[Plain, Field(min_length=1, max_length=1000)]
Text500 = Annotated[Plain, Field(min_length=1, max_length=500)]
Text300 = Annotated[Plain, Field(min_length=1, max_length=300)]
Text200 = Annotated[Plain, Field(min_length=1, max_length=200)]
Text100 = Annotated[Plain, Field(min_length=1, max_length=100)]
Email = Annotated[
    Plain, BeforeValidator(_cleaned), Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=320)
]
ZaloId = Annotated[str, BeforeValidator(_cleaned), Field(pattern=r"^\d{1,32}$")]
Phone = Annotated[str, BeforeValidator(_cleaned), Field(pattern=r"^\+?\d{9,15}$")]
# A one-line name (person, unit, role), in its canonical form.
Name = Annotated[Plain, BeforeValidator(_cleaned), Field(min_length=1)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ContactSpec(_Strict):
    name: Annotated[Name, Field(max_length=200)]
    role: Annotated[Name, Field(max_length=200)] | None = None
    email: Email | None = None
    zalo_user_id: Annotated[str, BeforeValidator(_cleaned), Field(pattern=r"^\d{1,32}$")] | None = (
        None
    )
    phone: Annotated[str, BeforeValidator(_cleaned), Field(pattern=r"^\+?\d{9,15}$")] | None = None
    apprise_urls: list[Annotated[Plain, Field(max_length=2000)]] = []
    is_head: bool = False
    is_coordinator: bool = False


class UnitSpec(_Strict):
    code: Code
    name: Annotated[Name, Field(max_length=300)]
    short_name: Annotated[Name, Field(max_length=100)] | None = None
    contacts: list[ContactSpec] = []


class DeadlineSpec(_Strict):
    """Exactly one of ``date``, ``event`` or ``after``.

    ``event: -10`` is ten working days before the event date, ``event: 0`` the event day;
    ``after: CODE`` with ``days: 3`` is three working days after that prerequisite's due date.
    ``calendar_days: true`` counts calendar days instead of working days.
    """

    date: PlanDate | None = None
    event: Annotated[int, Field(ge=-366, le=366)] | None = None
    after: Code | None = None
    days: Annotated[int, Field(ge=0, le=366)] | None = None
    calendar_days: bool = False

    @model_validator(mode="after")
    def _exactly_one_anchor(self) -> DeadlineSpec:
        anchors = [name for name in ("date", "event", "after") if getattr(self, name) is not None]
        if len(anchors) != 1:
            raise ValueError("thời hạn cần đúng một trong: date, event, after")
        if self.days is not None and self.after is None:
            raise ValueError("'days' chỉ dùng cùng 'after'")
        return self


class AssignmentSpec(_Strict):
    code: Code
    title: Text
    detail: Annotated[Plain, Field(max_length=10000)] | None = None
    source: Text | None = None
    lead: Code
    cooperating: list[Code] = []
    deadline: DeadlineSpec | None = None
    requires: list[Code] = []


class EventSpec(_Strict):
    name: Text500
    date: PlanDate | None = None
    window_start: PlanDate | None = None
    window_end: PlanDate | None = None
    window_text: Text200 | None = None
    place: Text500 | None = None
    # Bounded: an INTEGER column cannot hold any number YAML can write.
    delegates: Annotated[int, Field(ge=0, le=1_000_000)] | None = None

    @model_validator(mode="after")
    def _window_in_order(self) -> EventSpec:
        if self.window_start and self.window_end and self.window_start > self.window_end:
            raise ValueError("window_start phải trước window_end")
        return self


class PlanSpec(_Strict):
    code: Code
    number: Text100 | None = None
    title: Text500
    issuer: Text300
    issued_date: PlanDate | None = None
    issued_place: Text100 | None = None
    legal_bases: list[Text] = []
    coordinator: Code
    event: EventSpec


HourMinute = Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]


class ReminderPolicySpec(_Strict):
    """When reminders go out; every field has the default of the common practice."""

    upcoming_days: list[Annotated[int, Field(ge=1, le=60)]] = [5, 2]
    due_today: bool = True
    overdue_daily: bool = True
    escalate_after_days: Annotated[int, Field(ge=1, le=60)] = 2
    escalate_every_days: Annotated[int, Field(ge=1, le=60)] = 5  # working days: weekly
    copy_cooperating: bool = True
    quiet_start: HourMinute = "21:00"
    quiet_end: HourMinute = "07:00"


class PlanFile(_Strict):
    version: int = Field(default=1, ge=1, le=1)
    plan: PlanSpec
    units: list[UnitSpec] = Field(min_length=1)
    assignments: list[AssignmentSpec] = []
    reminders: ReminderPolicySpec = ReminderPolicySpec()
