"""Delivery with several sender threads, reused SMTP connections and leases that are renewed.

Real SMTP server on loopback (aiosmtpd); ``GIAOVIEC_DELIVERY_CONCURRENCY`` senders, each with
its own connection kept open across messages.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from models.enums import DeliveryStatus
from notifications.apprise_adapter import Outcome, SmtpLink, email_url, send_one
from notifications.compose import compose
from notifications.delivery import DeliveryReport, deliver
from tests.conftest import REPO, cli_env
from tests.smtp_server import SmtpTestServer
from tests.test_delivery import LATER, all_rows, an_giang_with_reminders, smtp_settings
from tracking import clock, store


@pytest.fixture
def smtp() -> Iterator[SmtpTestServer]:
    with SmtpTestServer() as server:
        yield server


def owed(session: Session) -> Counter[tuple[str, str]]:
    calendar = store.load_calendar(session)
    return Counter(
        (str(store.outbox_view(session, r)["address"]), compose(session, r, calendar).subject)
        for r in all_rows(session)
    )


def received(smtp: SmtpTestServer) -> Counter[tuple[str, str]]:
    return Counter((m.rcpt_tos[0], str(m.message["Subject"])) for m in smtp.messages)


@pytest.mark.parametrize("concurrency", [1, 4, 8])
def test_each_message_sent_exactly_once(
    session: Session, clean_engine: Engine, smtp: SmtpTestServer, concurrency: int
) -> None:
    an_giang_with_reminders(session)
    expected = owed(session)
    settings = smtp_settings(smtp, delivery_concurrency=concurrency)
    # Small batches: several claims per run, emails of one batch still in flight at the next.
    report = deliver(clean_engine, settings, LATER, batch_size=3)
    assert report.counts == Counter({"sent": expected.total()})
    assert received(smtp) == expected
    rows = all_rows(session)
    assert {r.status for r in rows} == {DeliveryStatus.SENT} and {r.attempts for r in rows} == {1}
    assert all(len(m.rcpt_tos) == 1 for m in smtp.messages)
    assert deliver(clean_engine, settings, LATER).handled == 0


def test_a_dropped_connection_is_reopened(smtp: SmtpTestServer) -> None:
    """The server goes away between two sends on the same link (restart: the kept
    connection is dead); the second send notices at MAIL FROM and reconnects once."""
    url = email_url(smtp.host, smtp.port, None, None, "a@b.vn", None, "none", "x@example.vn")
    link = SmtpLink()
    try:
        first = send_one(url, title="Một", body="<p>một</p>", body_format="html", link=link)
        second = send_one(url, title="Hai", body="<p>hai</p>", body_format="html", link=link)
        assert (first.outcome, second.outcome) == (Outcome.SENT, Outcome.SENT)
        assert link.opened == 1  # reused
        smtp.stop()
        smtp.start()
        third = send_one(url, title="Ba", body="<p>ba</p>", body_format="html", link=link)
        assert third.outcome is Outcome.SENT, third.detail
        assert link.opened == 2
        assert [str(m.message["Subject"]) for m in smtp.messages] == ["Một", "Hai", "Ba"]
        # Down for good: the reconnect fails, reported as the server failing.
        smtp.stop()
        fourth = send_one(url, title="Bốn", body="<p>bốn</p>", body_format="html", link=link)
        assert fourth.outcome is Outcome.TRANSIENT and fourth.server_failed
        assert "could not reach the server" in fourth.detail
    finally:
        link.close()


def test_kill_with_k_senders_doubles_at_most_k(
    session: Session, clean_engine: Engine, smtp: SmtpTestServer, home: Path, database_url: str
) -> None:
    """SIGKILL mid-run with 3 senders: nothing is lost, at most 3 messages arrive twice."""
    an_giang_with_reminders(session)
    expected = owed(session)
    concurrency = 3
    smtp.delay_data(0.15)
    env = {
        **cli_env(home, database_url, **smtp.env()),
        "GIAOVIEC_DELIVERY_LEASE_SECONDS": "1",
        "GIAOVIEC_DELIVERY_CONCURRENCY": str(concurrency),
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "cli", "deliver"],
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while len(smtp.messages) < 4 and time.monotonic() < deadline and worker.poll() is None:
        time.sleep(0.01)
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=10)
    assert 4 <= len(smtp.messages) < expected.total()
    smtp.delay_data(0)
    time.sleep(1.1)  # the killed run's lease runs out
    deliver(clean_engine, smtp_settings(smtp, delivery_lease_seconds=1), clock.now_utc())
    assert {r.status for r in all_rows(session)} == {DeliveryStatus.SENT}
    got = received(smtp)
    assert got >= expected  # nothing lost
    assert got.total() - expected.total() <= concurrency


def test_lease_is_renewed_while_a_slow_batch_is_sent(
    session: Session, clean_engine: Engine, smtp: SmtpTestServer
) -> None:
    """A 1 s lease, a batch that takes several seconds: a second run starting after the
    first one's original lease ran out finds nothing of its batch to take; no duplicate."""
    an_giang_with_reminders(session)
    expected = owed(session)
    smtp.delay_data(0.25)  # ~14 messages one at a time: ~3.5 s, far beyond the lease
    settings = smtp_settings(smtp, delivery_lease_seconds=1, delivery_concurrency=1)
    reports: list[DeliveryReport] = []

    def first_run() -> None:
        reports.append(deliver(clean_engine, settings, clock.now_utc()))

    runner = threading.Thread(target=first_run)
    runner.start()
    time.sleep(1.6)  # the lease the first run took at its claim has run out by now
    second = deliver(clean_engine, settings, clock.now_utc())
    runner.join(timeout=60)
    assert reports and not runner.is_alive()
    assert received(smtp) == expected  # each exactly once
    assert reports[0].counts["sent"] + second.counts["sent"] == expected.total()
    assert second.counts["sent"] < expected.total()  # the first run kept its batch
    assert {r.status for r in all_rows(session)} == {DeliveryStatus.SENT}
