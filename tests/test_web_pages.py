"""The web pages' content over HTTP, the timeline's geometry, links, accounts and commands."""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from typer.testing import CliRunner

from cli import web_commands
from models.enums import AssignmentState, ReminderKind, Timeliness
from models.tables import Assignment
from models.web_tables import User, UserRole
from tests.browser import (
    ANG,
    CHEAP_HASHER,
    TODAY,
    clean_web_tables,
    csrf_of,
    http_client,
    login,
    web_world,
)
from tracking import accounts, clock, db, links, store
from tracking.status import Action
from web import gantt
from web.app import RedactLinkTokens, create_app

D = dt.date


@pytest.fixture
def world(clean_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    with web_world(clean_engine, monkeypatch) as engine:
        yield engine


@pytest.fixture
def coordinator(world: Engine) -> Any:
    client = http_client(create_app(world, today=lambda: TODAY))
    login(client, "tdkt")
    return client


def assignment_id(engine: Engine, code: str) -> int:
    with Session(engine) as session:
        found = session.exec(select(Assignment).where(Assignment.code == code)).one()
        assert found.id is not None
        return found.id


def views_on(engine: Engine, day: dt.date) -> list[store.AssignmentView]:
    with Session(engine) as session:
        return store.plan_status(session, day, ANG)


def text_of(html: str) -> str:
    """The page's words, tags and extra spaces removed."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


# --- overview ---------------------------------------------------------------------------


def test_overview_counts_lists_and_countdown(world: Engine, coordinator: Any) -> None:
    html = coordinator.get("/").text
    expected = Counter(v.timeliness for v in views_on(world, TODAY))
    # On 04/03/2024, 11 days (9 working days) before the conference of 15/03/2024.
    assert expected == {
        Timeliness.OPEN_IN_TIME: 13,
        Timeliness.OVERDUE: 5,
        Timeliness.DUE_SOON: 2,
    }
    for key in Timeliness:
        assert f'data-key="{key.value}">{expected.get(key, 0)}</span>' in html
    words = text_of(html)
    assert "còn 11 ngày (9 ngày làm việc)" in words
    assert "Quá hạn (5)" in words and "Sắp đến hạn (2)" in words
    overdue = html.split('id="overdue-title"')[1].split("</section>")[0]
    assert set(re.findall(r"<strong>([A-Z0-9-]+)</strong>", overdue)) == {
        "VP-01",
        "TC-01",
        "PTTH-01",
        "SNV-01",
        "SNV-04",
    }
    assert "Sở Tài chính 0/2 hoàn thành · 1 quá hạn" in words
    critical = html.split('id="critical-title"')[1]
    assert re.findall(r'">([A-Z0-9-]+)</a></td>', critical) == ["VP-01", "SNV-06", "HN"]


def test_overview_timeline_has_one_bar_per_dated_assignment(
    world: Engine, coordinator: Any
) -> None:
    html = coordinator.get("/").text
    bars = re.findall(r'class="gantt-bar (t-\w+)( crit)?" data-code="([^"]+)"', html)
    assert len(bars) == 20
    colours = {code: css for css, _, code in bars}
    assert colours["VP-01"] == "t-red" and colours["SNV-03"] == "t-orange"
    assert colours["VH-01"] == "t-blue"
    assert {code for _, crit, code in bars if crit} == {"VP-01", "SNV-06", "HN"}
    assert "Hôm nay 04/03/2024" in html and "15/03/2024" in html


def test_without_an_event_date_there_is_nothing_to_draw(
    clean_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    with web_world(clean_engine, monkeypatch, event_date=None) as engine:
        client = http_client(create_app(engine, today=lambda: TODAY))
        login(client, "lanhdao")
        html = client.get("/").text
    assert "gantt-bar" not in html
    assert "Chưa vẽ được biểu đồ" in html
    assert "chưa ấn định (Trong quý I năm 2024)" in text_of(html)
    assert 'data-key="no_deadline">20</span>' in html


def view(code: str, due: dt.date | None, prerequisites: list[str], critical: bool = False) -> Any:
    return store.AssignmentView(
        id=abs(hash(code)) % 10_000,
        plan_code="p",
        code=code,
        title=f"Việc {code}",
        lead="U",
        lead_name="Đơn vị",
        cooperating=[],
        original_due=due,
        due=due,
        state=AssignmentState.NOT_STARTED,
        timeliness=Timeliness.OPEN_IN_TIME if due else Timeliness.NO_DEADLINE,
        critical=critical,
        slack=0 if critical else 3,
        at_risk=None,
        completed_on=None,
        extended=False,
        prerequisites=prerequisites,
    )


def test_timeline_geometry() -> None:
    items = [
        view("A", D(2024, 3, 1), [], critical=True),
        view("B", D(2024, 3, 8), ["A"], critical=True),
        view("C", D(2024, 3, 5), ["A", "B"]),  # B is due after C: C is a mark at its due date
        view("X", None, []),
    ]
    chart = gantt.build(items, D(2024, 2, 20), today=D(2024, 3, 4), event_date=D(2024, 3, 11))
    bars = {b.code: b for b in chart.bars}
    assert set(bars) == {"A", "B", "C"} and len(chart.rows) == 4
    assert bars["A"].start == D(2024, 2, 20)  # the plan's activation
    assert bars["B"].start == D(2024, 3, 1)  # its prerequisite's due date
    assert bars["C"].start == bars["C"].due == D(2024, 3, 5)
    assert bars["B"].width == 7 * gantt.DAY_WIDTH
    assert bars["C"].width == gantt.MIN_BAR_WIDTH
    assert bars["B"].x == bars["A"].x + bars["A"].width  # B starts where A ends
    assert len(chart.arrows) == 3
    assert [a.critical for a in chart.arrows].count(True) == 1  # A → B
    today, event = {line.css: line for line in chart.lines}["today"], chart.lines[0]
    assert event.css == "event" and event.x - today.x == 7 * gantt.DAY_WIDTH
    assert chart.first == D(2024, 2, 17) and chart.last == D(2024, 3, 14)
    # Without activation the plan's first due date starts the roots.
    assert gantt.earliest_starts(items, None)[bars["A"].id] == D(2024, 3, 1)


def test_timeline_leaves_out_a_today_far_from_the_plan() -> None:
    chart = gantt.build([view("A", D(2024, 3, 1), [])], None, D(2026, 11, 23), None)
    assert chart.lines == () and chart.last == D(2024, 3, 4)


# --- list -------------------------------------------------------------------------------


def codes_in(html: str) -> list[str]:
    return re.findall(r'<tr class="item" data-code="([^"]+)"', html)


def test_list_filters_and_sorts(world: Engine, coordinator: Any) -> None:
    everything = codes_in(coordinator.get("/assignments").text)
    assert len(everything) == 20 and everything[0] == "VP-01"  # the plan's order
    # A unit's list: what it leads and what it cooperates on.
    assert codes_in(coordinator.get("/assignments?unit=STC").text) == ["SNV-09", "TC-01", "TC-02"]
    overdue = coordinator.get("/assignments?timeliness=overdue").text
    assert sorted(codes_in(overdue)) == ["PTTH-01", "SNV-01", "SNV-04", "TC-01", "VP-01"]
    assert "Hiển thị 5/20 nhiệm vụ." in overdue
    dues = {v.code: v.due or D.max for v in views_on(world, TODAY)}
    by_due = codes_in(coordinator.get("/assignments?sort=due").text)
    assert [dues[c] for c in by_due] == sorted(dues[c] for c in by_due)
    reverse = codes_in(coordinator.get("/assignments?sort=due&order=desc").text)
    assert reverse[0] == "SNV-09" and reverse[-1] == "VP-01"
    by_slack = codes_in(coordinator.get("/assignments?sort=slack").text)
    assert set(by_slack[:3]) == {"VP-01", "SNV-06", "HN"}
    none = coordinator.get("/assignments?state=done&unit=STC").text
    assert codes_in(none) == [] and "Không có nhiệm vụ nào khớp bộ lọc." in none
    # Unknown values are ignored rather than failing.
    assert len(codes_in(coordinator.get("/assignments?state=xyz&sort=abc").text)) == 20


# --- one assignment, and the coordinator's actions ----------------------------------------


def test_assignment_page_shows_units_links_and_history(world: Engine, coordinator: Any) -> None:
    page = coordinator.get(f"/assignments/{assignment_id(world, 'SNV-09')}")
    words = text_of(page.text)
    assert "Quản lý, sử dụng và thanh quyết toán kinh phí" in words
    assert "Chủ trì Sở Nội vụ (Ban Thi đua - Khen thưởng)" in words
    assert "Phối hợp Sở Tài chính" in words
    prerequisites = page.text.split('id="prereq-title"')[1].split("</section>")[0]
    assert re.findall(r"<strong>([A-Z0-9-]+)</strong>", prerequisites) == ["HN", "TC-02"]
    assert "Tạo nhiệm vụ" in words and "Tính lại thời hạn" in words
    assert "Thời hạn: — → 12/04/2024" in words
    first = coordinator.get(f"/assignments/{assignment_id(world, 'VP-01')}").text
    dependents = first.split('id="dependents-title"')[1].split("</section>")[0]
    assert re.findall(r"<strong>([A-Z0-9-]+)</strong>", dependents) == [
        "PTTH-01",
        "SNV-01",
        "SNV-06",
        "SNV-07",
        "TC-01",
        "VH-01",
    ]


def post_action(client: Any, ident: int, action: str, **fields: Any) -> Any:
    token = csrf_of(client.get(f"/assignments/{ident}").text)
    data = {"csrf_token": token, "action": action, **fields}
    return client.post(f"/assignments/{ident}/act", data=data)


def test_coordinator_extends_returns_and_cancels(world: Engine, coordinator: Any) -> None:
    ident = assignment_id(world, "TC-01")
    missing = post_action(coordinator, ident, "extend", reason="chờ hồ sơ")
    assert missing.status_code == 400 and "Cần chọn hạn mới khi gia hạn." in missing.text
    done = post_action(coordinator, ident, "extend", reason="chờ hồ sơ", new_due="2024-03-08")
    assert "Đã gia hạn nhiệm vụ TC-01 đến 08/03/2024." in done.text
    words = text_of(done.text)
    assert "Gia hạn" in words and "Thời hạn: 23/02/2024 → 08/03/2024" in words
    assert "hạn ban đầu 23/02/2024" in words

    post_action(coordinator, ident, "submit", note="nộp thay")
    no_reason = post_action(coordinator, ident, "return", reason="  ")
    assert no_reason.status_code == 400 and "Cần ghi lý do trả lại." in no_reason.text
    returned = post_action(coordinator, ident, "return", reason="Thiếu dự toán")
    assert "Đã trả lại nhiệm vụ TC-01." in returned.text
    cancelled = post_action(coordinator, ident, "cancel", reason="Gộp vào TC-02")
    assert "Đã hủy" in text_of(cancelled.text)
    with Session(world) as session:
        row = session.get(Assignment, ident)
        assert row is not None and row.state is AssignmentState.CANCELLED
        assert row.due == D(2024, 3, 8) and row.extended_by == "Lê Văn C (tdkt)"


def test_a_stale_form_is_refused_as_a_concurrent_update(world: Engine, coordinator: Any) -> None:
    ident = assignment_id(world, "TC-01")
    stale = csrf_of(coordinator.get(f"/assignments/{ident}").text)
    with Session(world) as session:
        version = session.get(Assignment, ident).version  # type: ignore[union-attr]
    post_action(coordinator, ident, "start")
    late = coordinator.post(
        f"/assignments/{ident}/act",
        data={"csrf_token": stale, "action": "block", "reason": "x", "version": str(version)},
    )
    assert late.status_code == 409 and "vừa được người khác cập nhật" in late.text


def test_an_action_the_state_forbids_is_explained(world: Engine, coordinator: Any) -> None:
    response = post_action(coordinator, assignment_id(world, "TC-01"), "confirm")
    assert response.status_code == 400
    assert "Không thể xác nhận hoàn thành nhiệm vụ đang ở trạng thái “Chưa bắt đầu”." in (
        response.text
    )


# --- links ------------------------------------------------------------------------------


def test_action_links_for_the_message_templates(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIAOVIEC_SECRET_KEY", "s" * 40)
    now = dt.datetime(2024, 3, 4, 1, 0, tzinfo=dt.UTC)
    result = links.action_links(7, 3, [Action.SUBMIT, Action.BLOCK], "https://gv.example.vn/", now)
    assert [label for label, _ in result] == ["Báo cáo hoàn thành", "Báo vướng mắc"]
    assert all(url.startswith("https://gv.example.vn/l/") for _, url in result)
    assert result[0][1] != result[1][1]
    claim = links.read_token(result[0][1].rsplit("/", 1)[1], "s" * 40, now)
    assert (claim.assignment_id, claim.contact_id, claim.action) == (7, 3, Action.SUBMIT)
    assert claim.expires_at == now + dt.timedelta(days=14)
    monkeypatch.setenv("GIAOVIEC_LINK_DAYS", "3")
    [(_, short)] = links.action_links(7, 3, [Action.START], "https://gv.example.vn", now)
    assert links.read_token(short.rsplit("/", 1)[1], "s" * 40, now).expires_at == (
        now + dt.timedelta(days=3)
    )


def test_which_messages_carry_which_links() -> None:
    k, S = links.kinds_for_message, AssignmentState
    assert k(ReminderKind.UPCOMING, "lead", False, S.NOT_STARTED) == (
        Action.START,
        Action.SUBMIT,
        Action.BLOCK,
    )
    assert k(ReminderKind.OVERDUE, "lead", False, S.IN_PROGRESS) == (Action.SUBMIT, Action.BLOCK)
    assert k(ReminderKind.OVERDUE, "cooperating", True, S.IN_PROGRESS) == ()
    assert k(ReminderKind.SUBMITTED, "coordinator", False, S.SUBMITTED) == (
        Action.CONFIRM,
        Action.RETURN,
    )
    assert k(ReminderKind.SUBMITTED, "coordinator", False, S.DONE) == ()
    assert k(ReminderKind.BLOCKED, "coordinator", False, S.BLOCKED) == (Action.EXTEND,)
    assert k(ReminderKind.CONFIRMED, "lead", False, S.DONE) == ()
    assert k(ReminderKind.KICKOFF, "lead", False, S.NOT_STARTED) == ()


def test_without_a_configured_secret_the_install_keeps_its_own(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GIAOVIEC_SECRET_KEY", raising=False)
    first = links.secret_key()
    assert len(first) >= links.MIN_SECRET_LENGTH and links.secret_key() == first
    path = home / links.SECRET_FILE
    assert path.stat().st_mode & 0o777 == 0o600


def test_link_tokens_never_reach_the_access_log() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5", "GET", "/l/eyJhIjoxfQ.c2lnbmF0dXJl?x=1", "1.1", 200),
        None,
    )
    assert RedactLinkTokens().filter(record)
    assert record.getMessage() == '127.0.0.1:5 - "GET /l/…?x=1 HTTP/1.1" 200'


# --- accounts and commands ----------------------------------------------------------------


def test_real_passwords_are_hashed_with_argon2id() -> None:
    hashed = accounts.hash_password("mật khẩu có dấu")
    assert hashed.startswith("$argon2id$") and "m=65536" in hashed
    assert accounts.verify_password(hashed, "mật khẩu có dấu")
    assert not accounts.verify_password(hashed, "mat khau co dau")
    assert not accounts.verify_password("không phải hash", "x")


def cli() -> typer.Typer:
    app = typer.Typer()
    web_commands.register(app)
    return app


def test_user_add_reads_the_password_from_stdin(world: Engine) -> None:
    runner = CliRunner()
    args = ["user", "add", "Nguyen.A", "--role", "department", "--department", "BAG"]
    result = runner.invoke(cli(), [*args, "--name", "Đỗ Văn L"], input="bao-an-giang-2024\n")
    assert result.exit_code == 0, result.output
    assert "Đã tạo tài khoản nguyen.a (Cán bộ đơn vị, đơn vị BAG)" in result.output
    with Session(world) as session:
        user = session.exec(select(User).where(User.username == "nguyen.a")).one()
        assert user.role is UserRole.DEPARTMENT and user.display_name == "Đỗ Văn L"
        assert "bao-an-giang-2024" not in user.password_hash
        assert accounts.verify_password(user.password_hash, "bao-an-giang-2024")

    refusals = [
        (args, "bao-an-giang-2024", "đã có"),
        (["user", "add", "moi", "--role", "department"], "12345678", "cần mã đơn vị"),
        (["user", "add", "moi", "--role", "department", "--department", "XYZ"], "12345678", "XYZ"),
        (["user", "add", "moi", "--role", "viewer"], "ngan", "ít nhất 8 ký tự"),
        (["user", "add", "moi", "--role", "admin"], "12345678", "không hợp lệ"),
        (["user", "add", "a b", "--role", "viewer"], "12345678", "không hợp lệ"),
    ]
    for argv, password, words in refusals:
        refused = runner.invoke(cli(), argv, input=password + "\n")
        assert refused.exit_code == 2, (argv, refused.output)
        assert words in refused.stderr, (argv, refused.stderr)

    assert runner.invoke(cli(), ["user", "disable", "nguyen.a"]).exit_code == 0
    listing = runner.invoke(cli(), ["user", "list"]).stdout
    assert "nguyen.a" in listing and "đã khóa" in listing and "tdkt" in listing


def test_web_command_serves_the_app(world: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    served: list[uvicorn.Config] = []
    monkeypatch.setattr(uvicorn.Server, "run", lambda self: served.append(self.config))
    result = CliRunner().invoke(cli(), ["web", "--port", "8765", "--today", "04/03/2024"])
    assert result.exit_code == 0, result.output
    assert "http://127.0.0.1:8765/" in result.stdout
    [config] = served
    assert config.port == 8765
    app: Any = config.app
    assert app.state.ctx.today() == TODAY
    assert any(isinstance(f, RedactLinkTokens) for f in logging.getLogger("uvicorn.access").filters)
    logging.getLogger("uvicorn.access").filters.clear()


def test_overview_of_an_empty_database(
    clean_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GIAOVIEC_SECRET_KEY", "k" * 40)
    monkeypatch.setattr(accounts, "_hasher", lambda: CHEAP_HASHER)
    with db.session_scope(clean_engine) as session:
        accounts.create_user(session, "tdkt", "mat-khau-1", UserRole.COORDINATOR)
    try:
        client = http_client(create_app(clean_engine, today=clock.today))
        login(client, "tdkt", "mat-khau-1")
        assert "Chưa có kế hoạch nào" in client.get("/").text
    finally:
        clean_web_tables(clean_engine)


def test_a_delivery_alert_is_on_every_coordinators_page_until_it_clears(
    world: Engine, coordinator: Any
) -> None:
    """Mail held because the SMTP server refused the login (issue 14.3): the coordinator sees
    it at the top of every page; a unit's officer is not shown the operator's trouble."""
    from models.enums import Channel
    from tracking import outbox

    assert "Không gửi được email" not in coordinator.get("/").text
    with db.session_scope(world) as session:
        outbox.raise_alert(
            session, Channel.EMAIL, "535 5.7.8 Authentication failed", clock.now_utc()
        )
    for page in ("/", "/assignments", f"/assignments/{assignment_id(world, 'SNV-01')}"):
        html = coordinator.get(page).text
        assert 'role="alert"' in html and "Không gửi được email" in html, page
        assert "535" in html
    officer = http_client(create_app(world, today=lambda: TODAY))
    login(officer, "stc")
    assert "Không gửi được email" not in officer.get("/").text
    with db.session_scope(world) as session:
        outbox.clear_alert(session, Channel.EMAIL)
    assert "Không gửi được email" not in coordinator.get("/").text
