"""What "today" is: Asia/Ho_Chi_Minh's calendar day, or the injected one when replaying."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

VN_TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def local_day(moment: dt.datetime) -> dt.date:
    """The calendar day in Vietnam of a UTC instant (naive values are taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(VN_TZ).date()


def today(override: dt.date | None = None) -> dt.date:
    """``override`` (``--today``), else ``GIAOVIEC_TODAY``, else today in Vietnam."""
    if override is not None:
        return override
    from tracking.settings import get_settings

    return get_settings().today or local_day(now_utc())


OFFICE_OPENS = dt.time(8, 0)


def now_for(day: dt.date) -> dt.datetime:
    """Now, when ``day`` is today in Vietnam; the start of office hours that day otherwise.

    Replaying a plan (``--today``) then schedules messages as if the day had just begun.
    """
    moment = now_utc()
    if local_day(moment) == day:
        return moment
    return dt.datetime.combine(day, OFFICE_OPENS, tzinfo=VN_TZ).astimezone(dt.UTC)
