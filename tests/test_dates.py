"""Dates that enter the system: within the calendar's years, deadlines on working days, and a
stored date beyond the calendar never bricking a plan (issues 13.3 and 14.2)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from cli import common as cli_common
from cli.main import app
from models.dates import parse_date
from models.enums import ReminderKind
from models.tables import Activity, Assignment, CalendarOverride, Contact, OutboxMessage, Plan
from tests.browser import ANG, TODAY, csrf_of, http_client, login, web_world
from tests.plan_samples import SMALL_PLAN, small_plan
from tracking import clock, links, store
from tracking.calendar import WorkCalendar
from tracking.planio import PlanFileError, check_plan_text
from tracking.status import Action
from web.app import create_app

D = dt.date
SATURDAY = D(2024, 3, 16)
MONDAY = D(2024, 3, 18)
DAY_OFF_WORDS = "là ngày nghỉ (Thứ Bảy)"
PROPOSED = "ngày làm việc kế tiếp 18/03/2024"
OUT_OF_RANGE = "ngoài khoảng lịch làm việc hỗ trợ"
runner = CliRunner()


def giaoviec(*args: str) -> tuple[int, str]:
    """Exit code and everything printed, as one line of words: Click's error box wraps at
    its own width, so a phrase may be cut across lines and box borders."""
    cli_common.out.width = cli_common.err.width = 200
    result = runner.invoke(app, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    text = re.sub(r"[│╭╮╰╯─]", " ", result.stdout + result.stderr)
    return result.exit_code, " ".join(text.split())


def load(session: Session, text: str = SMALL_PLAN) -> None:
    store.load_plan(session, check_plan_text(text.encode(), "x.yaml"), "kiem-thu")
    session.commit()


MARCH_1 = D(2024, 3, 1)


def extend(session: Session, ref: str, to: D, today: D = MARCH_1) -> Assignment:
    request = store.ActionRequest(Action.EXTEND, "ban-tdkt", reason="Chờ số liệu", new_due=to)
    row = store.act(session, ref, request, today)
    session.commit()
    return row


def activities(session: Session, action: str) -> list[Activity]:
    return list(session.exec(select(Activity).where(Activity.action == action)))


# --- one parsing function ---------------------------------------------------------------


@pytest.mark.parametrize("text", ["31/12/9999", "01/03/2204", "2204-03-01", "31/12/1989"])
def test_dates_beyond_the_calendar_are_refused_when_typed(text: str) -> None:
    with pytest.raises(ValueError, match=OUT_OF_RANGE):
        parse_date(text)


def test_the_calendar_range_is_the_parsers_range() -> None:
    from models.dates import check_date

    assert parse_date("01/01/1990") == D(1990, 1, 1)
    assert parse_date("2100-12-31") == D(2100, 12, 31)
    with pytest.raises(ValueError, match="31/12/9999"):
        check_date(D(9999, 12, 31))


# --- 13.3: a new due date is a working day ----------------------------------------------


def test_an_extension_to_a_day_off_is_refused_with_the_next_working_day(session: Session) -> None:
    load(session)
    before = store.get_assignment(session, "A")
    with pytest.raises(store.InvalidAction, match=PROPOSED) as refused:
        extend(session, "A", SATURDAY)
    assert DAY_OFF_WORDS in str(refused.value)
    session.rollback()
    after = store.get_assignment(session, "A")
    assert (after.due, after.version, after.extended_at) == (before.due, before.version, None)
    assert extend(session, "A", MONDAY).due == MONDAY


def test_a_holiday_is_refused_by_its_name(session: Session) -> None:
    load(session)
    with pytest.raises(store.InvalidAction, match="Giỗ Tổ Hùng Vương"):
        extend(session, "A", D(2024, 4, 18))


# --- 14.2: any correction, recorded as one ----------------------------------------------


def test_an_earlier_date_is_a_correction_recorded_as_such(session: Session) -> None:
    load(session)
    extend(session, "A", D(2024, 3, 20))
    # Even in the past (the deadline the plan gave): undoing a mistaken extension.
    row = extend(session, "A", D(2024, 2, 28), today=D(2024, 3, 4))
    assert row.due == D(2024, 2, 28)
    [correction] = activities(session, store.DUE_CORRECTED)
    assert (correction.from_value, correction.to_value) == ("2024-03-20", "2024-02-28")
    assert len(activities(session, "extend")) == 1
    with pytest.raises(store.InvalidAction, match="trùng hạn hiện tại"):
        extend(session, "A", D(2024, 2, 28))


def test_going_back_to_the_plans_date_undoes_the_extension(session: Session) -> None:
    load(session)
    extend(session, "A", D(2024, 3, 20))
    row = extend(session, "A", D(2024, 2, 28))  # A's own date: 12 working days before 15/03
    assert (row.due, row.extended_at, row.extended_by) == (D(2024, 2, 28), None, None)
    # The deadline follows its rule again: it moves with the event date.
    store.set_event_date(session, "thu-nghiem", D(2024, 3, 22), "x")
    session.commit()
    assert store.get_assignment(session, "A").due == D(2024, 3, 6)


def test_the_store_refuses_a_date_beyond_the_calendar_from_any_caller(session: Session) -> None:
    load(session)
    with pytest.raises(store.InvalidAction, match=OUT_OF_RANGE):
        extend(session, "A", D(9999, 12, 31))
    session.rollback()
    with pytest.raises(store.InvalidAction, match=OUT_OF_RANGE):
        store.set_event_date(session, "thu-nghiem", D(2204, 3, 15), "x")
    session.rollback()
    with pytest.raises(store.InvalidAction, match=OUT_OF_RANGE):
        store.set_calendar_override(session, D(9999, 1, 1), False, "x", "x")
    session.rollback()
    assert session.exec(select(CalendarOverride)).all() == []


# The conference's report is due 5 working days after it.
REPORT_AFTER = small_plan(**{"{event: 0}": "{event: 5}"})


def test_an_event_date_whose_deadlines_leave_the_calendar_is_refused(session: Session) -> None:
    load(session, REPORT_AFTER)
    before = store.get_plan(session, "thu-nghiem").event_date
    with pytest.raises(store.InvalidAction, match="rơi vào năm 2101"):
        store.set_event_date(session, "thu-nghiem", D(2100, 12, 29), "x")
    session.rollback()
    assert store.get_plan(session, "thu-nghiem").event_date == before


# --- plan files -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "line"),
    [
        ("date: 2024-03-15", "date: 9999-12-31", 9),  # a YAML date
        ("{date: 10/03/2024}", "{date: 10/03/2204}", 34),  # a typed one
        ("date: 2024-03-15", "date: 2100-12-29", 39),  # HN: 5 working days after, in 2101
    ],
)
def test_plan_files_with_dates_beyond_the_calendar_are_invalid(
    old: str, new: str, line: int
) -> None:
    text = REPORT_AFTER.replace(old, new)
    with pytest.raises(PlanFileError) as refused:
        check_plan_text(text.encode(), "x.yaml")
    [problem] = refused.value.problems
    assert problem.line == line and OUT_OF_RANGE in problem.message


def test_plan_validate_agrees_with_plan_load(clean_engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "ke-hoach.yaml"
    path.write_text(REPORT_AFTER.replace("date: 2024-03-15", "date: 2100-12-29"), encoding="utf-8")
    for command in ("validate", "load"):
        code, out = giaoviec("plan", command, str(path))
        assert code == 2 and "Hợp lệ" not in out, out
        assert ":39: assignments[3].deadline: thời hạn rơi vào năm 2101" in out


# --- every interface --------------------------------------------------------------------


@pytest.fixture
def world(clean_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    with web_world(clean_engine, monkeypatch) as engine:
        yield engine


def row_of(engine: Engine, code: str) -> Assignment:
    with Session(engine) as session:
        found = session.exec(select(Assignment).where(Assignment.code == code)).one()
        session.expunge(found)
        return found


def test_the_cli_refuses_a_day_off_and_dates_beyond_the_calendar(world: Engine) -> None:
    code, out = giaoviec(
        "extend", "SNV-01", "--to", "16/03/2024", "--reason", "r", "--today", "2024-03-04"
    )
    assert code == 2 and DAY_OFF_WORDS in out and PROPOSED in out
    code, out = giaoviec("extend", "SNV-01", "--to", "31/12/9999", "--reason", "r")
    assert code == 2 and OUT_OF_RANGE in out
    for args in (
        ("status", "--today", "01/01/2204"),
        ("plan", "set-event-date", ANG, "15/03/2204"),
        ("calendar", "override", "01/01/9999", "--off", "--name", "x"),
    ):
        code, out = giaoviec(*args)
        assert code == 2 and OUT_OF_RANGE in out, (args, out)
    assert row_of(world, "SNV-01").extended_at is None


def test_giaoviec_today_beyond_the_calendar_is_refused(
    world: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GIAOVIEC_TODAY", "31/12/9999")
    code, out = giaoviec("status")
    assert code == 2 and OUT_OF_RANGE in out


def test_an_extension_to_the_proposed_day_gets_its_due_today_message(
    world: Engine, tmp_path: Path
) -> None:
    """The fault seen: due on a Saturday, no sweep runs that day, no "due today" ever."""
    code, out = giaoviec("plan", "activate", ANG, "--today", "2024-03-15")
    assert code == 0, out
    script = tmp_path / "kich-ban.yaml"
    script.write_text(
        "- {day: 2024-03-15, action: extend, assignment: SNV-01, by: Lê Văn C,"
        " reason: Chờ số liệu, to: 2024-03-18}\n",
        encoding="utf-8",
    )
    code, out = giaoviec(
        "simulate", "--from", "2024-03-15", "--to", "2024-03-18", "--script", str(script)
    )
    assert code == 0, out
    target = row_of(world, "SNV-01")
    with Session(world) as session:
        due_today = session.exec(
            select(OutboxMessage).where(
                OutboxMessage.assignment_id == target.id,
                OutboxMessage.kind == ReminderKind.DUE_TODAY,
            )
        ).all()
    assert {m.day for m in due_today} == {MONDAY}


def test_the_simulation_script_refuses_a_day_off(world: Engine, tmp_path: Path) -> None:
    script = tmp_path / "kich-ban.yaml"
    script.write_text(
        "- {day: 2024-03-04, action: extend, assignment: SNV-01, by: Lê Văn C,"
        " reason: Chờ số liệu, to: 2024-03-16}\n",
        encoding="utf-8",
    )
    code, out = giaoviec(
        "simulate", "--from", "2024-03-04", "--to", "2024-03-04", "--script", str(script)
    )
    assert code == 2, out
    assert "Kịch bản, ngày 04/03/2024 (extend SNV-01)" in out and PROPOSED in out
    script.write_text(script.read_text().replace("2024-03-16", "9999-12-31"), encoding="utf-8")
    code, out = giaoviec(
        "simulate", "--from", "2024-03-04", "--to", "2024-03-04", "--script", str(script)
    )
    assert code == 2 and OUT_OF_RANGE in out
    assert row_of(world, "SNV-01").extended_at is None


def test_the_web_form_refuses_a_day_off_and_dates_beyond_the_calendar(world: Engine) -> None:
    client = http_client(create_app(world, today=lambda: TODAY))
    login(client, "tdkt")
    target = row_of(world, "SNV-01")
    page = client.get(f"/assignments/{target.id}")
    assert 'min="1990-01-01" max="2100-12-31"' in page.text
    for due, words in (("2024-03-16", PROPOSED), ("9999-12-31", OUT_OF_RANGE)):
        answer = client.post(
            f"/assignments/{target.id}/act",
            data={
                "csrf_token": csrf_of(page.text),
                "action": "extend",
                "reason": "Chờ số liệu",
                "new_due": due,
            },
        )
        assert answer.status_code == 400 and words in answer.text, answer.text
    assert row_of(world, "SNV-01").version == target.version


def test_the_link_refuses_a_day_off_and_dates_beyond_the_calendar(world: Engine) -> None:
    client = http_client(create_app(world, today=lambda: TODAY))
    target = row_of(world, "SNV-01")
    with Session(world) as session:
        coordinator = session.exec(select(Contact).where(Contact.name == "Lê Văn C")).one()
    assert target.id is not None and coordinator.id is not None
    [(_, url)] = links.action_links(
        target.id, coordinator.id, [Action.EXTEND], "http://testserver", clock.now_utc()
    )
    path = url.removeprefix("http://testserver")
    page = client.get(path)
    for due, words in (("16/03/2024", PROPOSED), ("31/12/9999", OUT_OF_RANGE)):
        answer = client.post(
            path, data={"csrf_token": csrf_of(page.text), "reason": "Chờ", "new_due": due}
        )
        assert answer.status_code == 400 and words in answer.text, answer.text
    assert row_of(world, "SNV-01").version == target.version
    done = client.post(
        path, data={"csrf_token": csrf_of(page.text), "reason": "Chờ", "new_due": "18/03/2024"}
    )
    assert done.status_code == 200 and row_of(world, "SNV-01").due == MONDAY


# --- a date already stored beyond the calendar ------------------------------------------


def store_bad_extension(engine: Engine, code: str) -> None:
    """What an older version let through: an extension to 31/12/9999, with a dependent."""
    with Session(engine) as session:
        session.execute(
            update(Assignment)
            .where(col(Assignment.code) == code)
            .values(due=D(9999, 12, 31), extended_at=clock.now_utc(), extended_by="nhầm")
        )
        session.commit()


def test_a_stored_date_beyond_the_calendar_bricks_nothing(world: Engine, tmp_path: Path) -> None:
    store_bad_extension(world, "SNV-01")
    with Session(world) as session:
        views = store.plan_status(session, TODAY, ANG)
        assert any(v.due == D(9999, 12, 31) for v in views)
        # The sweep's recompute keeps going (the other plans, the other days).
        plan = store.get_plan(session, ANG)
        plan.deadlines_basis = None
        store.recompute_plans(session, [plan], WorkCalendar(), "sweep")
    for args in (
        ("status", "--today", "04/03/2024"),
        ("show", "SNV-01"),
        ("dashboard", "--once", "--today", "04/03/2024"),
        ("report", "--xlsx", str(tmp_path / "bao-cao.xlsx"), "--today", "04/03/2024"),
        ("sweep", "--today", "04/03/2024"),
        ("calendar", "export", "-o", str(tmp_path / "han.ics")),
        ("status", "--csv", "--today", "04/03/2024"),
    ):
        code, out = giaoviec(*args)
        assert code == 0, (args, out)
    client = http_client(create_app(world, today=lambda: TODAY))
    login(client, "tdkt")
    target = row_of(world, "SNV-01")
    for path in ("/", "/assignments", f"/assignments/{target.id}"):
        answer = client.get(path)
        assert answer.status_code == 200, (path, answer.text[:500])
    assert "31/12/9999" in client.get(f"/assignments/{target.id}").text
    # …and the coordinator corrects it: an earlier date, recorded as a correction.
    code, out = giaoviec(
        "extend", "SNV-01", "--to", "18/03/2024", "--reason", "Nhầm năm", "--today", "04/03/2024"
    )
    assert code == 0, out
    with Session(world) as session:
        assert store.get_assignment(session, "SNV-01").due == MONDAY
        [correction] = activities(session, store.DUE_CORRECTED)
        assert (correction.from_value, correction.to_value) == ("9999-12-31", "2024-03-18")


def test_the_sweep_goes_on_past_a_plan_it_cannot_count(session: Session) -> None:
    """B is 2 calendar days after A, stored at 31/12/9999: 9999-12-31 + 2 days overflows."""
    load(session, small_plan(**{"{after: A, days: 2}": "{after: A, days: 2, calendar_days: true}"}))
    load(session, small_plan(**{"code: thu-nghiem": "code: ke-hoach-khac"}))
    first = store.get_plan(session, "thu-nghiem").id
    session.execute(
        update(Assignment)
        .where(col(Assignment.code) == "A", col(Assignment.plan_id) == first)
        .values(due=D(9999, 12, 31), extended_at=clock.now_utc(), extended_by="nhầm")
    )
    session.commit()
    # A person's change that needs counting from it is refused…
    with pytest.raises(store.InvalidAction, match="năm 9999"):
        store.set_event_date(session, "thu-nghiem", D(2024, 3, 22), "x")
    session.rollback()
    # …while the sweep leaves that plan as it is and recomputes the other one.
    plans = list(session.exec(select(Plan).order_by(col(Plan.id))))
    for plan in plans:
        plan.deadlines_basis = None
        plan.event_date = D(2024, 3, 22)
    moved = store.recompute_plans(session, plans, WorkCalendar(), "sweep")
    assert moved == 3  # the other plan's relative deadlines (A, B, HN) moved with its event
    assert [p.deadlines_basis is not None for p in plans] == [False, True]
    assert store.get_assignment(session, "thu-nghiem/B").due == D(2024, 3, 1)  # as it was


def test_a_stored_override_beyond_the_calendar_is_ignored(session: Session) -> None:
    load(session)
    session.add(CalendarOverride(day=D(9999, 1, 1), working=False, name="nhầm"))
    session.commit()
    assert store.load_calendar(session).is_working_day(D(2024, 3, 18))
    extend(session, "A", MONDAY)


# --- the importer's drafts --------------------------------------------------------------


def test_the_importer_keeps_dates_beyond_the_calendar_out_of_its_draft(tmp_path: Path) -> None:
    from importer import import_document
    from tests.conftest import REPO
    from tracking.planio import check_plan_text

    source = (REPO / "tests" / "import_samples" / "hoi-thi-doan-van.txt").read_text("utf-8")
    typed = source.replace("trước ngày 15/4/2024", "trước ngày 15/4/2204").replace(
        "trong tháng 5/2024", "ngày 10/5/9999"
    )
    assert typed != source
    path = tmp_path / "ke-hoach.txt"
    path.write_text(typed, encoding="utf-8")
    imported = import_document(path, check=check_plan_text)  # as `plan load` checks it
    assert imported.checked.spec.plan.event.date is None
    assert "ngày không hợp lệ hoặc thiếu năm: “trước ngày 15/4/2204”" in imported.text
    assert all(
        a.deadline is None or a.deadline.date is None or a.deadline.date.year < 2100
        for a in imported.checked.spec.assignments
    )


# --- 13.9: the README's replay ----------------------------------------------------------


def readme_quick_start() -> str:
    from tests.conftest import REPO

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    after = readme.split("Then, with `.venv/bin` on your `PATH`", 1)[1]
    return after.split("```sh\n", 1)[1].split("```", 1)[0]


def test_the_readme_examples_run_as_pasted_on_a_fresh_database(
    home: Path, database_url: str, clean_engine: Engine, tmp_path: Path
) -> None:
    import subprocess
    import sys

    from tests.conftest import cli_env

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "giaoviec"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m cli "$@"\n', encoding="utf-8")
    wrapper.chmod(0o755)
    env = cli_env(home, database_url, COLUMNS="200")
    env["PATH"] = f"{bin_dir}:{env['PATH']}"
    script = "set -eu\ngiaoviec init\n" + readme_quick_start() + "giaoviec status --json\n"
    result = subprocess.run(
        ["bash", "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Lưu ý" not in result.stderr  # every view is of the day the actions were done
    with Session(clean_engine) as session:
        row = store.get_assignment(session, "SNV-01")
        # Recorded on the replayed day, not on the real one.
        assert (row.state.value, row.completed_on) == ("done", D(2024, 3, 1))


def test_status_of_a_day_before_recorded_work_says_so(world: Engine) -> None:
    code, out = giaoviec("submit", "SNV-01", "--today", "01/03/2024")
    assert code == 0, out
    code, out = giaoviec("status", "--today", "01/03/2024")
    assert code == 0 and "Lưu ý" not in out
    code, out = giaoviec("status", "--today", "28/02/2024")
    assert code == 0
    assert "Lưu ý: 1 nhiệm vụ được báo cáo hoàn thành sau ngày 28/02/2024 (SNV-01)" in out


def test_a_giaoviec_today_beyond_the_calendar_is_named_not_a_traceback(
    home: Path, database_url: str, clean_engine: Engine
) -> None:
    """Commands without a --today option read it from the settings."""
    import subprocess
    import sys

    from tests.conftest import REPO, cli_env

    env = {**cli_env(home, database_url), "GIAOVIEC_TODAY": "31/12/9999"}
    result = subprocess.run(
        [sys.executable, "-m", "cli", "deliver"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert "GIAOVIEC_TODAY: ngày 31/12/9999 nằm ngoài" in " ".join(result.stderr.split())


@pytest.mark.parametrize(
    "payload",
    [
        [1, 1, "submit", 10**30, "n"],  # an expiry beyond any datetime: OverflowError
        [1, 1, "submit", -(10**12), "n"],
        [10**30, 1, "submit", 2_000_000_000, "n"],  # an id no database column holds
        [1, 0, "submit", 2_000_000_000, "n"],
    ],
)
def test_a_signed_link_with_impossible_numbers_is_refused(
    world: Engine, payload: list[Any]
) -> None:
    from tests.browser import SECRET

    client = http_client(create_app(world, today=lambda: TODAY))
    token = links._serializer(SECRET).dumps(payload)
    answer = client.get(f"/l/{token}")
    assert answer.status_code == 400 and "Liên kết không hợp lệ" in answer.text


def test_the_lead_unit_is_told_a_correction_not_an_extension(session: Session) -> None:
    """The message a correction causes says "điều chỉnh thời hạn" (the subject the officer
    reads), while a real extension still says "gia hạn"."""
    from notifications.compose import context_for
    from notifications.templates import render
    from tests.test_delivery import an_giang_with_reminders

    an_giang_with_reminders(session)
    for to in (D(2025, 3, 20), D(2024, 3, 20)):  # a typo in the year, then its correction
        extend(session, "SNV-01", to, D(2024, 2, 20))
    rows = list(
        session.exec(
            select(OutboxMessage)
            .where(OutboxMessage.kind == ReminderKind.EXTENDED)
            .order_by(col(OutboxMessage.id))
        )
    )
    subjects = [
        render(context_for(session, row, store.load_calendar(session))).subject for row in rows
    ]
    assert subjects and subjects[0].startswith("Gia hạn nhiệm vụ SNV-01"), subjects
    assert subjects[-1].startswith("Điều chỉnh thời hạn nhiệm vụ SNV-01"), subjects
