"""The web pages on many and large plans: paging, the plan picker, bounded lists and timeline.

Generated data (``bench.generate``) stands for a province years in: many plans, some large.
Each shortcut the pages take at that size is held to the plain rule it replaces: the pages
of the list together are the whole sorted list, the overview's counts are the Python
timeliness rule's (and the database's own count, ``tracking.progress``).
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bench.generate import DEFAULT_TODAY, Sizes, generate
from models.enums import Timeliness
from models.web_tables import UserRole
from tests.browser import CHEAP_HASHER, PASSWORD, SECRET, clean_web_tables, http_client, login
from tracking import accounts, db, progress, store
from web import gantt, queries
from web.app import create_app
from web.pages import PAGE_SIZE, SHORT_LIMIT

# Late in the year most deadlines have passed: plenty overdue, every class present.
LATE = dt.date(2026, 11, 18)
BIG = "kh-00000"  # 260 assignments: more than a page, a short list and the timeline hold
SIZES = Sizes(plans=queries.PICKER_LIMIT + 3, per_plan=4, units=8, seed=11)


@pytest.fixture
def world(clean_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """One large plan then many small ones, and a coordinator account."""
    monkeypatch.setenv("GIAOVIEC_SECRET_KEY", SECRET)
    monkeypatch.delenv("GIAOVIEC_PUBLIC_URL", raising=False)
    monkeypatch.setattr(accounts, "_hasher", lambda: CHEAP_HASHER)
    clean_web_tables(clean_engine)
    generate(clean_engine, Sizes(plans=1, per_plan=260, units=8, seed=5), migrate=False)
    _more_plans(clean_engine)
    with db.session_scope(clean_engine) as session:
        accounts.create_user(session, "tdkt", PASSWORD, UserRole.COORDINATOR, None, "Lê Văn C")
    try:
        yield clean_engine
    finally:
        clean_web_tables(clean_engine)


def _more_plans(engine: Engine) -> None:
    """More plans than the picker lists, loaded after the big one (so they are the newest)."""
    from sqlalchemy import text

    with engine.begin() as connection:
        big = connection.execute(text("SELECT id FROM plan")).scalar_one()
        for n in range(1, SIZES.plans + 1):
            connection.execute(
                text(
                    "INSERT INTO plan (code, title, issuer, legal_bases, loaded_at, "
                    "reminder_policy) VALUES (:code, :title, 'UBND tỉnh', '[]', :at, '{}')"
                ),
                {
                    "code": f"kh-9{n:04d}",
                    "title": f"Kế hoạch nhỏ {n}",
                    "at": dt.datetime(2026, 6, 10, 1, n % 60, tzinfo=dt.UTC),
                },
            )
        assert big == 1


@pytest.fixture
def coordinator(world: Engine) -> Any:
    client = http_client(create_app(world, today=lambda: LATE))
    login(client, "tdkt")
    return client


def codes_in(html: str) -> list[str]:
    return re.findall(r'<tr class="item" data-code="([^"]+)">', html)


def views_of(engine: Engine, plan: str, day: dt.date = LATE) -> list[store.AssignmentView]:
    with Session(engine) as session:
        return store.plan_status(session, day, plan)


# --- the list's pages -------------------------------------------------------------------


def test_the_pages_of_the_list_are_the_whole_list(world: Engine, coordinator: Any) -> None:
    every = [v.code for v in views_of(world, BIG)]
    first = coordinator.get(f"/assignments?plan={BIG}").text
    assert codes_in(first) == every[:PAGE_SIZE]
    assert f"Hiển thị 1–{PAGE_SIZE} trong 260 nhiệm vụ khớp bộ lọc" in first
    assert "Trang 1/6" in first and "Trang trước" not in first
    seen: list[str] = []
    page = first
    while True:
        seen.extend(codes_in(page))
        following = re.search(r'<a href="([^"]+)" rel="next">', page)
        if not following:
            break
        page = coordinator.get(following.group(1).replace("&amp;", "&")).text
    assert seen == every
    assert "Hiển thị 251–260 trong 260" in page and "Trang 6/6" in page


def test_paging_keeps_the_filter_and_the_sort(world: Engine, coordinator: Any) -> None:
    views = views_of(world, BIG)
    overdue = [v for v in views if v.timeliness is Timeliness.OVERDUE]
    assert len(overdue) > PAGE_SIZE, "the data must give more than a page of overdue work"
    by_due = sorted(overdue, key=lambda v: (v.due, v.code), reverse=True)
    base = f"/assignments?plan={BIG}&timeliness=overdue&sort=due&order=desc"
    first = coordinator.get(base).text
    following = re.search(r'<a href="([^"]+)" rel="next">', first)
    assert following is not None
    link = following.group(1).replace("&amp;", "&")
    assert "timeliness=overdue" in link and "sort=due" in link and "order=desc" in link
    second = coordinator.get(link).text
    expected = [v.code for v in by_due]
    assert codes_in(first) + codes_in(second) == expected[: 2 * PAGE_SIZE]


def test_a_page_out_of_range_shows_the_nearest(world: Engine, coordinator: Any) -> None:
    views = [v.code for v in views_of(world, BIG)]
    assert codes_in(coordinator.get(f"/assignments?plan={BIG}&page=99").text) == views[250:]
    for junk in ("0", "-1", "abc", "9" * 40):
        html = coordinator.get(f"/assignments?plan={BIG}&page={junk}").text
        assert codes_in(html) == views[:PAGE_SIZE], junk


def test_a_small_plan_has_one_page_as_before(world: Engine, coordinator: Any) -> None:
    html = coordinator.get("/assignments?plan=kh-90001").text
    assert "Hiển thị 0/0 nhiệm vụ." in html and 'class="pager"' not in html


# --- the overview ----------------------------------------------------------------------


def test_overview_counts_equal_the_python_rule_and_the_sql_count(
    world: Engine, coordinator: Any
) -> None:
    html = coordinator.get(f"/?plan={BIG}").text
    python = Counter(v.timeliness for v in views_of(world, BIG) if v.timeliness is not None)
    with Session(world) as session:
        plan = store.get_plan(session, BIG)
        calendar = store.load_calendar(session)
        units = progress.unit_counts(session, LATE, calendar, [plan.id or 0])[plan.id or 0]
    sql: Counter[Timeliness] = Counter()
    for unit in units:
        sql.update(unit.counts)
    assert python == sql and len(python) >= 4
    for key in Timeliness:
        assert f'data-key="{key.value}">{python.get(key, 0)}</span>' in html


def test_overview_lists_are_bounded_with_a_link_to_all(world: Engine, coordinator: Any) -> None:
    html = coordinator.get(f"/?plan={BIG}").text
    overdue = sum(1 for v in views_of(world, BIG) if v.timeliness is Timeliness.OVERDUE)
    assert overdue > SHORT_LIMIT
    section = html.split('id="overdue-title"')[1].split("</section>")[0]
    assert f"Quá hạn ({overdue})" in section
    assert len(re.findall(r"<li>", section)) == SHORT_LIMIT
    assert f"Xem tất cả {overdue} nhiệm vụ quá hạn" in section
    assert "timeliness=overdue&amp;sort=due" in section


def test_the_timeline_draws_the_first_rows_and_says_so(world: Engine, coordinator: Any) -> None:
    html = coordinator.get(f"/?plan={BIG}").text
    rows = re.findall(r'class="row-label[^"]*"', html)
    assert len(rows) == gantt.ROW_LIMIT
    assert f"Biểu đồ chỉ vẽ {gantt.ROW_LIMIT} nhiệm vụ đầu tiên" in html
    assert f"{260 - gantt.ROW_LIMIT} nhiệm vụ còn lại" in html


def test_timeline_starts_come_from_every_assignment(world: Engine) -> None:
    views = views_of(world, BIG)
    whole = gantt.build(views, DEFAULT_TODAY, LATE, None, limit=len(views))
    cut = gantt.build(views, DEFAULT_TODAY, LATE, None, limit=30)
    assert cut.left_out == len(views) - 30 and whole.left_out == 0
    starts = {b.code: (b.start, b.due) for b in whole.bars}
    assert all(starts[b.code] == (b.start, b.due) for b in cut.bars)
    assert cut.first is not None and whole.first is not None and cut.first >= whole.first


def test_many_plans_get_a_code_field_and_the_active_plan_is_the_default(
    world: Engine, coordinator: Any
) -> None:
    html = coordinator.get("/").text
    # The active plan (the big one), though the small drafts were loaded after it.
    assert f'<input name="plan" value="{BIG}" list="plan-codes" required>' in html
    suggested = re.findall(r'<option value="([^"]+)" label="[^"]*">', html)
    assert len(suggested) == queries.PICKER_LIMIT and BIG not in suggested
    assert f"gợi ý {queries.PICKER_LIMIT}/{SIZES.plans + 1} kế hoạch mới nhất" in html
    assert '<select name="plan">' not in html
    # Any plan stays reachable by its code.
    assert "kh-00000" in coordinator.get(f"/?plan={BIG}").text


def test_the_active_plan_is_picked_and_the_picker_lists_the_newest(world: Engine) -> None:
    with Session(world) as session:
        plans = store.list_plans(session)
        [active] = [p for p in plans if p.activated_at is not None]
        chosen = queries.default_plan(session)
        assert chosen is not None and chosen.code == active.code == BIG
        menu = queries.plan_menu(session)
        newest = sorted(plans, key=lambda p: (-p.loaded_at.timestamp(), p.code))
        assert menu.total == len(plans) and not menu.complete
        assert menu.codes == tuple(sorted(p.code for p in newest[: queries.PICKER_LIMIT]))
