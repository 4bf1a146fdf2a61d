"""Delivery through real channels: files, a real SMTP server on loopback, a Zalo stand-in."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from models.enums import DeliveryStatus, ReminderKind
from models.tables import Activity, OutboxMessage
from notifications.delivery import deliver
from tests.conftest import BUILTIN_PLAN, REPO, cli_env
from tests.smtp_server import SmtpTestServer
from tests.zalo_fake import FakeZalo
from tracking import clock, reminders, store
from tracking.planio import read_plan_file
from tracking.settings import Settings, get_settings
from tracking.status import Action

ANG = "an-giang-2024-hoi-nghi-thi-dua"
D = dt.date
DAY = D(2024, 3, 4)  # Monday, 7 working days before the conference of 15/03/2024
LATER = clock.now_utc() + dt.timedelta(days=1)  # "now" for delivery: everything is due


@pytest.fixture
def smtp() -> Iterator[SmtpTestServer]:
    with SmtpTestServer() as server:
        yield server


def smtp_settings(server: SmtpTestServer, **extra: Any) -> Settings:
    values: dict[str, Any] = {
        "home": get_settings().home,
        "smtp_host": server.host,
        "smtp_port": server.port,
        "smtp_security": "none",
        "smtp_from": "tdkt@example.gov.vn",
        **extra,
    }
    return Settings(**values)


def an_giang_with_reminders(
    session: Session, settings: Settings | None = None
) -> list[OutboxMessage]:
    """The real plan, activated, with the reminders of one busy day enqueued."""
    store.load_plan(session, read_plan_file(BUILTIN_PLAN), "kiem-thu")
    store.set_event_date(session, ANG, D(2024, 3, 15), "x")
    store.activate_plan(session, ANG, "x", D(2024, 2, 1))
    calendar = store.load_calendar(session)
    reminders.enqueue_daily(session, DAY, clock.now_for(DAY), calendar, settings or get_settings())
    session.commit()
    return all_rows(session)


def all_rows(session: Session) -> list[OutboxMessage]:
    session.expire_all()
    return list(session.exec(select(OutboxMessage).order_by(OutboxMessage.id)))  # type: ignore[arg-type]


def test_embedded_default_writes_readable_email_files(
    session: Session, clean_engine: Engine
) -> None:
    rows = an_giang_with_reminders(session)
    settings = get_settings()
    report = deliver(clean_engine, settings, LATER)
    assert report.counts == Counter({"sent": len(rows)})
    files = sorted(settings.outbox_folder.rglob("*.eml"))
    assert len(files) == len(rows)
    mail = email.message_from_bytes(files[0].read_bytes(), policy=email.policy.default)
    assert mail["To"].addresses[0].addr_spec.endswith("@example.gov.vn")
    body = mail.get_body(("plain",))
    html = mail.get_body(("html",))
    assert body is not None and html is not None
    assert "Kế hoạch Tổ chức Hội nghị tổng kết công tác thi đua" in body.get_content()
    chats = sorted(settings.outbox_folder.rglob("*.txt"))
    assert len(chats) == len(rows) and all(len(p.read_text("utf-8")) <= 2000 for p in chats)
    assert {r.status for r in all_rows(session)} == {DeliveryStatus.SENT}


def test_smtp_delivery_one_message_per_recipient(
    session: Session, clean_engine: Engine, smtp: SmtpTestServer
) -> None:
    rows = an_giang_with_reminders(session)
    settings = smtp_settings(smtp)
    report = deliver(clean_engine, settings, LATER)
    assert report.counts["sent"] == len(rows)
    received = smtp.messages
    assert len(received) == len(rows)
    assert all(len(m.rcpt_tos) == 1 for m in received)
    expected = Counter(store.outbox_view(session, r)["address"] for r in rows)
    assert Counter(m.rcpt_tos[0] for m in received) == expected
    overdue = [m for m in received if "quá hạn" in str(m.message["Subject"])]
    assert overdue, [str(m.message["Subject"]) for m in received]
    html = overdue[0].message.get_body(("html",))
    assert html is not None and "Kính gửi" in html.get_content()
    # A second run finds nothing more to send.
    assert deliver(clean_engine, settings, LATER).handled == 0
    assert len(smtp.messages) == len(rows)


def test_outage_then_recovery_delivers_each_message_once(
    session: Session, clean_engine: Engine, smtp: SmtpTestServer
) -> None:
    rows = an_giang_with_reminders(session)
    settings = smtp_settings(smtp, delivery_backoff_seconds=60)
    smtp.stop()
    down = deliver(clean_engine, settings, LATER)
    assert down.counts == Counter({"pending": len(rows)})  # all to be retried later
    after = all_rows(session)
    assert all(r.next_attempt_at > LATER for r in after)
    # Only the sends under way when the server proved down count as attempts; the rest were
    # put back without trying (the run stops sending email at the first server failure).
    tried = [r for r in after if r.attempts == 1]
    assert 1 <= len(tried) <= settings.delivery_concurrency
    assert all(r.attempts == 0 for r in after if r not in tried)
    assert deliver(clean_engine, settings, LATER).handled == 0  # not before the backoff
    smtp.start()
    later = LATER + dt.timedelta(hours=1)
    assert deliver(clean_engine, settings, later).counts == Counter({"sent": len(rows)})
    assert Counter(m.rcpt_tos[0] for m in smtp.messages) == Counter(
        store.outbox_view(session, r)["address"] for r in rows
    )


def test_permanent_refusal_is_recorded(
    session: Session, clean_engine: Engine, smtp: SmtpTestServer
) -> None:
    rows = an_giang_with_reminders(session)
    victim = str(store.outbox_view(session, rows[0])["address"])
    smtp.reject(victim)
    report = deliver(clean_engine, smtp_settings(smtp), LATER)
    refused = [r for r in rows if store.outbox_view(session, r)["address"] == victim]
    assert report.counts["failed"] == len(refused)
    for row in all_rows(session):
        if row.id in {r.id for r in refused}:
            assert row.status is DeliveryStatus.FAILED and "550" in (row.last_error or "")
    failed = session.exec(select(Activity).where(Activity.action == "message_failed")).all()
    assert len(failed) == len(refused)


def test_retries_stop_at_the_limit(
    session: Session, clean_engine: Engine, smtp: SmtpTestServer
) -> None:
    rows = an_giang_with_reminders(session)
    smtp.stop()
    settings = smtp_settings(smtp, delivery_max_attempts=2, delivery_give_up_hours=0)
    now = LATER
    # Each run tries at most a few messages before it stops for the outage, so it takes
    # several runs (a day apart, past every backoff) until every message has used its tries.
    for _ in range(4 * len(rows)):
        deliver(clean_engine, settings, now)
        now += dt.timedelta(days=1)
        if all(r.status is DeliveryStatus.FAILED for r in all_rows(session)):
            break
    assert {r.status for r in all_rows(session)} == {DeliveryStatus.FAILED}
    assert {r.attempts for r in all_rows(session)} == {2}


def test_reminder_made_moot_is_not_sent(
    session: Session, clean_engine: Engine, smtp: SmtpTestServer
) -> None:
    rows = an_giang_with_reminders(session)
    target = next(r for r in rows if r.kind is ReminderKind.OVERDUE)
    code = store.outbox_view(session, target)["assignment"]
    store.act(session, str(code), store.ActionRequest(Action.SUBMIT, "don-vi"), DAY)
    session.commit()
    report = deliver(clean_engine, smtp_settings(smtp), LATER)
    moot = [
        r
        for r in all_rows(session)
        if r.assignment_id == target.assignment_id
        and r.kind in (ReminderKind.OVERDUE, ReminderKind.ESCALATION)
    ]
    assert moot and all(r.status is DeliveryStatus.CANCELLED for r in moot)
    assert report.counts["cancelled"] == len(moot)
    assert report.counts["sent"] == len(smtp.messages)


def test_zalo_permanent_error_falls_back_to_email(
    session: Session,
    clean_engine: Engine,
    smtp: SmtpTestServer,
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from notifications.zalo import FileTokenStore, TokenPair

    with FakeZalo() as fake:
        # Channels are chosen when messages are enqueued, from the process settings.
        for name, value in fake.env().items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        settings = smtp_settings(
            smtp,
            **get_settings().model_dump(
                include={
                    "zalo_oa_id",
                    "zalo_app_id",
                    "zalo_secret_key",
                    "zalo_oa_base",
                    "zalo_business_base",
                    "zalo_oauth_base",
                }
            ),
        )
        FileTokenStore(home / "zalo").seed(
            TokenPair(
                fake.access_token or "",
                fake.refresh_token,
                dt.datetime.now(dt.UTC) + dt.timedelta(hours=20),
            )
        )
        store.load_plan(session, read_plan_file(BUILTIN_PLAN), "kiem-thu")
        store.set_contact(session, "VP-UBND", "Trần Thị B", {"zalo_user_id": "8001"}, "x")
        store.set_contact(
            session,
            "DPTTH",
            "Đỗ Văn Zalo",
            {"zalo_user_id": "8002", "email": "zalo@example.gov.vn"},
            "x",
        )
        session.commit()
        fake.set_error("8002", -213)  # not a follower of the Official Account
        store.set_event_date(session, ANG, D(2024, 3, 15), "x")
        store.activate_plan(session, ANG, "x", D(2024, 2, 1), now=clock.now_for(D(2024, 2, 1)))
        session.commit()
        report = deliver(clean_engine, settings, LATER)
        rows = all_rows(session)
        zalo_rows = [r for r in rows if r.channel.value == "zalo"]
        assert {store.outbox_view(session, r)["recipient"]: r.status for r in zalo_rows} == {
            "Trần Thị B": DeliveryStatus.SENT,
            "Đỗ Văn Zalo": DeliveryStatus.FAILED,
        }
        fallback = [r for r in rows if r.fallback_of_id is not None]
        assert len(fallback) == 1 and fallback[0].channel.value == "email"
        assert fallback[0].status is DeliveryStatus.SENT
        assert "zalo@example.gov.vn" in [m.rcpt_tos[0] for m in smtp.messages]
        assert len(fake.requests_to("/v3.0/oa/message/cs")) == 2
        assert report.counts["failed"] == 1


def test_killed_delivery_loses_nothing(
    session: Session, clean_engine: Engine, smtp: SmtpTestServer, home: Path, database_url: str
) -> None:
    """SIGKILL in the middle of a run: the next run sends the rest; at most one is doubled."""
    rows = an_giang_with_reminders(session)
    assert len(rows) >= 10
    smtp.delay_data(0.15)  # slow enough to be killed mid-run
    env = {
        **cli_env(home, database_url, **smtp.env()),
        "GIAOVIEC_DELIVERY_LEASE_SECONDS": "1",
        # One sender: at most one message is in flight at the kill (with k senders, k are;
        # tests/test_delivery_concurrency.py checks that case).
        "GIAOVIEC_DELIVERY_CONCURRENCY": "1",
    }
    log = home / "worker.log"
    with log.open("wb") as sink:
        worker = subprocess.Popen(
            [sys.executable, "-m", "cli", "deliver"],
            env=env,
            cwd=REPO,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 60
    while len(smtp.messages) < 3 and time.monotonic() < deadline and worker.poll() is None:
        time.sleep(0.02)
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=10)
    sent_before = len(smtp.messages)
    errors = {r.last_error for r in all_rows(session)}
    assert 3 <= sent_before < len(rows), (log.read_text("utf-8"), errors)
    smtp.delay_data(0)
    time.sleep(1.1)  # the killed run's lease runs out
    settings = smtp_settings(smtp, delivery_lease_seconds=1)
    deliver(clean_engine, settings, clock.now_utc())
    assert {r.status for r in all_rows(session)} == {DeliveryStatus.SENT}
    from notifications.compose import compose

    calendar = store.load_calendar(session)
    expected = Counter(
        (store.outbox_view(session, r)["address"], compose(session, r, calendar).subject)
        for r in all_rows(session)
    )
    received = Counter((m.rcpt_tos[0], str(m.message["Subject"])) for m in smtp.messages)
    assert received >= expected  # every message arrived…
    assert sum(received.values()) - sum(expected.values()) <= 1  # …at most the one in flight twice
