"""Working-day arithmetic on the Vietnamese public-sector calendar.

Deadlines are plain calendar days in Asia/Ho_Chi_Minh (convert instants with
``tracking.clock.local_day`` first). A day is off when, in order of precedence:

1. the operator override table says so (``True`` = working, ``False`` = off); it wins
   over everything, because announcements for future years arrive late;
2. it is a public holiday in ``holidays.VN`` (Tết, Hùng Kings, announced swap days off);
3. it is a Saturday or Sunday, unless ``holidays.VN`` lists it as a make-up working
   Saturday (``weekend_workdays``).

Counting follows the Civil Code: the day the period starts is never counted.

The calendar knows the years ``models.dates.MIN_YEAR..MAX_YEAR`` (dates entering the system are
refused outside them). Deciding a day or stepping past those years raises ``OutOfRange``;
counting working days between two dates does not: a stored date beyond the range (left by an
older version) counts as the range's edge, so reading a plan never fails on it (see
``working_days_between``).

For speed, each calendar keeps one sorted tuple of working-day ordinals covering a
contiguous range of years, extended lazily; counting and stepping are then bisections.
The official holiday data per year is cached module-wide, since it never changes for a
given ``holidays`` release.
"""

from __future__ import annotations

import bisect
import datetime as dt
import functools
import hashlib
import json
import os
import tempfile
import threading
import types
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

from models.dates import FIRST_DAY, LAST_DAY, MAX_YEAR, MIN_YEAR, WEEKDAYS
from models.errors import InvalidInput

__all__ = ["MAX_YEAR", "MIN_YEAR", "OutOfRange", "WorkCalendar"]

SATURDAY_NAME = "Thứ Bảy"
SUNDAY_NAME = WEEKDAYS[6]
# An operator-declared day off without a reason is almost always a swapped day.
OVERRIDE_OFF_NAME = "Nghỉ bù"

# Bump when this module's rules change which days are working days: stored deadlines then
# count as resolved under another calendar and the next sweep resolves them again.
CALENDAR_RULES_VERSION = "1"

# Fewest working days a year has on the official calendar (~245 in practice); used only
# to guess how many years to load at once, so a low value merely costs another round.
_MIN_WORKING_DAYS_PER_YEAR = 200


@dataclass(frozen=True, slots=True)
class _OfficialYear:
    """What ``holidays.VN`` says about one year, restricted to dates in that year."""

    days_off: Mapping[dt.date, str]
    weekend_workdays: frozenset[dt.date]


@dataclass(frozen=True, slots=True)
class _Span:
    """Working days of the years ``first_year..last_year`` as sorted date ordinals."""

    first_year: int
    last_year: int
    ordinals: tuple[int, ...]


class OutOfRange(InvalidInput):
    """A day, or a count of days, reaching beyond the years the calendar knows; the message is
    for the user (Vietnamese)."""

    def __init__(self, year: int) -> None:
        self.year = year
        super().__init__(
            f"năm {year} nằm ngoài khoảng lịch làm việc hỗ trợ ({MIN_YEAR}–{MAX_YEAR})"
        )

    @property
    def landing(self) -> str:
        """The end of a sentence "… sẽ rơi vào …": where a count ended up."""
        return f"năm {self.year}, ngoài khoảng lịch làm việc hỗ trợ ({MIN_YEAR}–{MAX_YEAR})"


def _check_year(year: int) -> None:
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise OutOfRange(year)


def _clamp(day: dt.date) -> dt.date:
    """``day`` moved into the calendar's range: for counting only, never for storing."""
    return min(max(day, FIRST_DAY), LAST_DAY)


def _as_date(value: dt.date) -> dt.date:
    """Reject datetimes: they are dates to the type checker but compare unequal to them."""
    if isinstance(value, dt.datetime):
        raise TypeError(
            "WorkCalendar takes dates, not datetimes; convert with tracking.clock.local_day() first"
        )
    return value


@functools.cache
def _holidays_release() -> str:
    from importlib.metadata import version

    return version("holidays")


@functools.cache
def _official_year(year: int) -> _OfficialYear:
    """What ``holidays.VN`` says of ``year``, from the disk cache when this release has been
    asked before (a ValueError is raised before caching)."""
    _check_year(year)
    cache = _disk_cache()
    found = cache.get(year)
    if found is None:
        found = _ask_holidays(year)
        cache.put(year, found)
    return found


def _ask_holidays(year: int) -> _OfficialYear:
    import holidays  # ~60 ms to import and ~70 ms per year: the disk cache spares both

    # country_holidays("VN") builds the same holidays.VN object, but through the typed
    # public API: holidays.VN itself is registered lazily and has an untyped constructor.
    vn = holidays.country_holidays("VN", years=year, language="vi")
    days_off: dict[dt.date, str] = {day: str(name) for day, name in vn.items() if day.year == year}
    # weekend_workdays also carries swaps of other years (e.g. 2014-12-27, 2019-01-05 are
    # present whatever year is asked for), so keep only this year's.
    workdays = frozenset(day for day in vn.weekend_workdays if day.year == year)
    return _OfficialYear(types.MappingProxyType(days_off), workdays)


class _YearCache:
    """The official years already worked out by this ``holidays`` release, in one JSON file.

    A year's data never changes within a release, so the file is named after the release
    (and these rules): an upgrade starts a new file. Every command that counts working days
    would otherwise import ``holidays`` and rebuild the year, about half of a short
    command's own time. Any trouble with the file (missing, damaged, read-only folder)
    simply means asking ``holidays`` again.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._years: dict[str, Any] | None = None

    def _load(self) -> dict[str, Any]:
        if self._years is None:
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
                self._years = data if isinstance(data, dict) else {}
            except (OSError, ValueError):
                self._years = {}
        return self._years

    def get(self, year: int) -> _OfficialYear | None:
        entry: Any = self._load().get(str(year))
        try:
            days_off = {dt.date.fromisoformat(d): str(n) for d, n in entry["off"].items()}
            workdays = frozenset(dt.date.fromisoformat(d) for d in entry["work"])
        except (TypeError, KeyError, AttributeError, ValueError):
            return None  # absent or damaged: ask holidays
        return _OfficialYear(types.MappingProxyType(days_off), workdays)

    def put(self, year: int, official: _OfficialYear) -> None:
        years = self._load()
        years[str(year)] = {
            "off": {d.isoformat(): n for d, n in sorted(official.days_off.items())},
            "work": sorted(d.isoformat() for d in official.weekend_workdays),
        }
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Written aside and renamed: a reader never sees half a file.
            fd, temporary = tempfile.mkstemp(dir=self.path.parent, suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(years, out, ensure_ascii=False)
            Path(temporary).replace(self.path)
        except OSError:
            pass  # no cache this time; the answer is right all the same


@functools.cache
def _disk_cache() -> _YearCache:
    folder = os.environ.get("GIAOVIEC_CACHE_DIR")
    if not folder:
        from platformdirs import user_cache_path

        folder = str(user_cache_path("giaoviec"))
    name = f"holidays-vn-{_holidays_release()}-rules{CALENDAR_RULES_VERSION}.json"
    return _YearCache(Path(folder) / name)


class WorkCalendar:
    """The public-sector working calendar, with an operator override table on top.

    Cheap to create, but meant to be reused: it caches its working-day table.
    Safe to share between threads.
    """

    def __init__(
        self,
        overrides: Mapping[dt.date, bool] | None = None,
        override_names: Mapping[dt.date, str] | None = None,
    ) -> None:
        self._overrides: dict[dt.date, bool] = {}
        for day, working in (overrides or {}).items():
            day = _as_date(day)
            _check_year(day.year)
            self._overrides[day] = bool(working)
        self._override_names: dict[dt.date, str] = {}
        for day, name in (override_names or {}).items():
            day = _as_date(day)
            if day not in self._overrides:
                # A name without an override is a configuration mistake worth surfacing.
                raise ValueError(
                    f"override name given for {day.isoformat()}, which has no override"
                )
            self._override_names[day] = name
        self._span: _Span | None = None
        self._lock = threading.Lock()

    def basis(self) -> str:
        """A digest of everything that decides working days: these rules, the ``holidays``
        release (its data for a year never changes within a release) and the overrides.

        Deadlines resolved under one basis are still right while the basis is unchanged, so
        the daily sweep resolves again only the plans stored under another one.
        """
        parts = [CALENDAR_RULES_VERSION, _holidays_release()]
        parts.extend(
            f"{day.isoformat()}={int(working)}" for day, working in sorted(self._overrides.items())
        )
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()

    # ---- single days -------------------------------------------------------------

    def is_working_day(self, day: dt.date) -> bool:
        """Whether ``day`` is a working day."""
        return self._reason_off(_as_date(day)) is None

    def day_off_name(self, day: dt.date) -> str | None:
        """Vietnamese reason ``day`` is off, or None on a working day."""
        return self._reason_off(_as_date(day))

    def next_working_day(self, day: dt.date) -> dt.date:
        """``day`` itself if working, else the first working day after it."""
        ordinal = _as_date(day).toordinal()
        span = self._covering(day.year, day.year)
        while True:
            index = bisect.bisect_left(span.ordinals, ordinal)
            if index < len(span.ordinals):
                return dt.date.fromordinal(span.ordinals[index])
            span = self._covering(span.first_year, span.last_year + 1)

    def previous_working_day(self, day: dt.date) -> dt.date:
        """``day`` itself if working, else the last working day before it."""
        ordinal = _as_date(day).toordinal()
        span = self._covering(day.year, day.year)
        while True:
            index = bisect.bisect_right(span.ordinals, ordinal) - 1
            if index >= 0:
                return dt.date.fromordinal(span.ordinals[index])
            span = self._covering(span.first_year - 1, span.last_year)

    # ---- counting ----------------------------------------------------------------

    def add_working_days(self, start: dt.date, n: int) -> dt.date:
        """The ``n``-th working day after ``start`` (before it if ``n < 0``).

        ``start`` itself is never counted (Civil Code); ``n == 0`` rolls a day off
        forward to the next working day.
        """
        if n == 0:
            return self.next_working_day(start)
        ordinal = _as_date(start).toordinal()
        span = self._covering(start.year, start.year)
        while True:
            ordinals = span.ordinals
            if n > 0:
                # bisect_right skips start itself: it is never counted.
                target = bisect.bisect_right(ordinals, ordinal) + n - 1
                if target < len(ordinals):
                    return dt.date.fromordinal(ordinals[target])
                more = _years_for(target - len(ordinals) + 1)
                span = self._covering(span.first_year, _grow_up(span.last_year, more))
            else:
                target = bisect.bisect_left(ordinals, ordinal) + n
                if target >= 0:
                    return dt.date.fromordinal(ordinals[target])
                more = _years_for(-target)
                span = self._covering(_grow_down(span.first_year, more), span.last_year)

    def working_days_between(self, start: dt.date, end: dt.date) -> int:
        """Working days ``d`` with ``start < d <= end``; negated count if ``end < start``.

        A date beyond the calendar's years counts as the range's edge: the count is then
        smaller than the truth but still hundreds of days, which is all that reading a plan
        with such a stored date (due soon? slack?) needs, instead of failing every page.
        """
        start, end = _clamp(_as_date(start)), _clamp(_as_date(end))
        low, high = sorted((start, end))
        ordinals = self._covering(low.year, high.year).ordinals
        # Counting "<= end" minus "<= start" gives both directions with the right sign.
        return bisect.bisect_right(ordinals, end.toordinal()) - bisect.bisect_right(
            ordinals, start.toordinal()
        )

    def working_days_in(self, first: dt.date, last: dt.date) -> list[dt.date]:
        """Working days from ``first`` to ``last`` inclusive, ascending (empty if reversed);
        only those within the calendar's years."""
        if _as_date(last) < _as_date(first):
            return []
        first, last = max(first, FIRST_DAY), min(last, LAST_DAY)
        if last < first:  # wholly outside the range
            return []
        ordinals = self._covering(first.year, last.year).ordinals
        lo = bisect.bisect_left(ordinals, first.toordinal())
        hi = bisect.bisect_right(ordinals, last.toordinal())
        return [dt.date.fromordinal(o) for o in ordinals[lo:hi]]

    # ---- internals ---------------------------------------------------------------

    def _reason_off(self, day: dt.date) -> str | None:
        """The single source of truth: why ``day`` is off, None when it is working."""
        official = _official_year(day.year)  # also enforces the year range
        override = self._overrides.get(day)
        if override is True:
            return None
        reason = official.days_off.get(day)
        if reason is None and day not in official.weekend_workdays:
            weekday = day.weekday()
            if weekday == 5:
                reason = SATURDAY_NAME
            elif weekday == 6:
                reason = SUNDAY_NAME
        if override is False:
            # Prefer the operator's wording, then the official one, then a generic name.
            return self._override_names.get(day) or reason or OVERRIDE_OFF_NAME
        return reason

    def _covering(self, first_year: int, last_year: int) -> _Span:
        """A span containing at least ``first_year..last_year``, extending it if needed."""
        span = self._span
        if span is not None and span.first_year <= first_year and last_year <= span.last_year:
            return span
        with self._lock:
            span = self._span  # another thread may have extended it meanwhile
            if span is not None:
                first_year = min(first_year, span.first_year)
                last_year = max(last_year, span.last_year)
            _check_year(first_year)
            _check_year(last_year)
            ordinals: list[int] = []
            for year in range(first_year, last_year + 1):
                if span is not None and span.first_year <= year <= span.last_year:
                    continue
                ordinals.extend(self._working_ordinals(year))
            if span is not None:
                ordinals.extend(span.ordinals)
            ordinals.sort()
            span = _Span(first_year, last_year, tuple(ordinals))
            self._span = span  # one reference swap: readers never see a half-built span
            return span

    def _working_ordinals(self, year: int) -> list[int]:
        first = dt.date(year, 1, 1).toordinal()
        last = dt.date(year, 12, 31).toordinal()
        return [
            o for o in range(first, last + 1) if self._reason_off(dt.date.fromordinal(o)) is None
        ]


def _years_for(missing_days: int) -> int:
    """How many more years to load to find ``missing_days`` more working days (a guess)."""
    return missing_days // _MIN_WORKING_DAYS_PER_YEAR + 1


def _grow_up(last_year: int, more: int) -> int:
    """Extend forward but not past MAX_YEAR, unless already there (then fail clearly)."""
    return last_year + 1 if last_year >= MAX_YEAR else min(last_year + more, MAX_YEAR)


def _grow_down(first_year: int, more: int) -> int:
    """Extend backward but not before MIN_YEAR, unless already there (then fail clearly)."""
    return first_year - 1 if first_year <= MIN_YEAR else max(first_year - more, MIN_YEAR)
