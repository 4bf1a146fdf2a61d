"""Outages of what delivery depends on: SMTP down, slow or deferring, Zalo failing, and the
database restarted under a running delivery. Each test lets the outage last a while, then
ends it, and checks that every owed message arrived, and how many arrived twice.

Simulated time: delivery runs every five minutes in production (``giaoviec serve``); here the
runs are called with a ``now`` that advances five minutes a run, so a half-hour outage costs
no real half hour. The servers are real (SMTP on loopback, a Zalo stand-in over HTTP, a
private PostgreSQL cluster); only the clock is simulated. Each test prints its figures
(``pytest -s`` shows them).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from models.enums import Channel, DeliveryStatus
from models.tables import Activity, Contact, OutboxMessage
from notifications import apprise_adapter, delivery, mail
from notifications.compose import compose
from notifications.delivery import DeliveryReport, deliver
from notifications.zalo import FileTokenStore, TokenPair, ZaloAccount, ZaloConfig
from tests.conftest import BUILTIN_PLAN, REPO, cli_env
from tests.outage_servers import FlakySmtp, FlakyZalo
from tests.smtp_server import free_port
from tests.test_delivery import ANG, DAY, LATER, all_rows, an_giang_with_reminders, smtp_settings
from tests.zalo_fake import OA_PATH
from tracking import clock, db, reminders, store
from tracking.planio import read_plan_file
from tracking.settings import Settings, get_settings

RUN_EVERY = dt.timedelta(minutes=5)  # the delivery schedule of `giaoviec serve`
SMTP_TIMEOUT = 0.5  # seconds; short so a stalled server costs little real time


@pytest.fixture
def smtp() -> Iterator[FlakySmtp]:
    with FlakySmtp() as server:
        yield server


def owed_mail(session: Session) -> Counter[tuple[str, str]]:
    """(address, subject) of every email the outbox owes: what must arrive, once each."""
    calendar = store.load_calendar(session)
    owed: Counter[tuple[str, str]] = Counter()
    for row in all_rows(session):
        if row.channel is Channel.EMAIL:
            address = str(store.outbox_view(session, row)["address"])
            owed[(address, compose(session, row, calendar).subject)] += 1
    return owed


def received_mail(server: FlakySmtp) -> Counter[tuple[str, str]]:
    return Counter((m.rcpt_tos[0], str(m.message["Subject"])) for m in server.messages)


def extra_copies(received: Counter[tuple[str, str]], owed: Counter[tuple[str, str]]) -> int:
    """Copies beyond one per owed message (owed messages missing are checked separately)."""
    return sum(max(received[key] - owed[key], 0) for key in received)


def run_until_settled(
    engine: Engine, settings: Settings, start: dt.datetime, max_runs: int = 12
) -> tuple[dt.datetime, list[DeliveryReport]]:
    """Delivery every five minutes (simulated) until nothing is pending any more."""
    now, reports = start, []
    with Session(engine) as session:
        for _ in range(max_runs):
            reports.append(deliver(engine, settings, now))
            pending = session.exec(
                select(OutboxMessage).where(OutboxMessage.status == DeliveryStatus.PENDING)
            ).first()
            session.rollback()  # a fresh snapshot for the next look
            if pending is None:
                break
            now += RUN_EVERY
    return now, reports


def activities(session: Session, action: str) -> int:
    return len(session.exec(select(Activity).where(Activity.action == action)).all())


def smtp_cli_env(home: Path, database_url: str, smtp: FlakySmtp, **extra: str) -> dict[str, str]:
    return cli_env(home, database_url, **smtp.env(), **extra)


# ------------------------------------------------------------------------------ SMTP


def test_smtp_down_for_a_while_then_back(
    session: Session, clean_engine: Engine, smtp: FlakySmtp, home: Path, database_url: str
) -> None:
    """Port closed for 20 minutes: every run ends normally, nothing is lost or doubled."""
    an_giang_with_reminders(session)
    owed = owed_mail(session)
    count = sum(owed.values())
    smtp.stop()

    # The first run is the real command, so what the operator sees is checked too.
    first = subprocess.run(
        [sys.executable, "-m", "cli", "deliver"],
        env=smtp_cli_env(home, database_url, smtp),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = first.stdout + first.stderr
    assert first.returncode == 0, output  # an outage is an outcome, not a crash
    assert "Traceback" not in output
    rows = all_rows(session)
    assert {r.status for r in rows} == {DeliveryStatus.PENDING}
    # Only the emails in flight when the refusal came back were tried; the run then stopped
    # sending email and postponed the rest without counting an attempt.
    tried = [r for r in rows if r.attempts == 1]
    concurrency = get_settings().delivery_concurrency
    assert 1 <= len(tried) <= concurrency and {r.attempts for r in rows} <= {0, 1}
    assert all(r.next_attempt_at > clock.now_utc() for r in rows)  # backoff, not a busy loop
    errors = {r.last_error for r in tried}
    assert len(errors) == 1 and "could not reach the server" in str(errors), errors
    assert "Connection refused" in str(errors)
    assert all("máy chủ SMTP lỗi" in (r.last_error or "") for r in rows if r.attempts == 0)
    assert activities(session, "message_pending") == len(tried)
    assert activities(session, "message_postponed") == count - len(tried)

    # Runs during the rest of the outage (simulated clock, five minutes apart).
    settings = smtp_settings(smtp, delivery_backoff_seconds=60)
    # Each run tries only the emails in flight when the refusal comes back; the rest wait.
    outage = dt.timedelta(minutes=20)
    now, down_runs = LATER, 0
    while now < LATER + outage:
        report = deliver(clean_engine, settings, now)
        assert set(report.counts) <= {"pending"}, report.counts
        down_runs += 1
        now += RUN_EVERY
    assert {r.status for r in all_rows(session)} == {DeliveryStatus.PENDING}

    smtp.start()
    end, reports = run_until_settled(clean_engine, settings, now)
    rows = all_rows(session)
    assert {r.status for r in rows} == {DeliveryStatus.SENT}
    received = received_mail(smtp)
    assert received == owed  # each owed email exactly once
    retries = sum(r.attempts for r in rows) - count
    print(
        f"\n[outage smtp-down] {database_url.split(':')[0]}: port closed ~{outage}"
        f" (+ the first real run), {down_runs + 1} failed runs, owed {count},"
        f" delivered {sum(received.values())}, duplicated {extra_copies(received, owed)},"
        f" retries {retries}, max attempts {max(r.attempts for r in rows)},"
        f" caught up {len(reports)} run(s) after recovery ({end - now} simulated)"
    )


def test_smtp_down_longer_than_the_retries(
    session: Session, clean_engine: Engine, smtp: FlakySmtp
) -> None:
    """Down for an hour with the default limits (6 attempts, 60 s first backoff, a run every
    5 minutes): nothing is given up, and everything is sent once the server is back. Down
    for longer than GIAOVIEC_DELIVERY_GIVE_UP_HOURS (24): the messages that had their six
    attempts fail, saying how often they were tried; none is sent on recovery.

    The clock starts at the rows' enqueue time (the real now): waiting is counted from it."""
    an_giang_with_reminders(session)
    owed = owed_mail(session)
    count = len(all_rows(session))
    settings = smtp_settings(smtp)
    assert (settings.delivery_max_attempts, settings.delivery_backoff_seconds) == (6, 60.0)
    assert settings.delivery_give_up_hours == 24.0
    start = clock.now_utc()

    # An hour down, then back: nothing lost, each sent once.
    smtp.stop()
    now = start
    while now < start + dt.timedelta(hours=1):
        report = deliver(clean_engine, settings, now)
        assert set(report.counts) <= {"pending"}, report.counts
        now += RUN_EVERY
    rows = all_rows(session)
    assert {r.status for r in rows} == {DeliveryStatus.PENDING}
    hour_attempts = max(r.attempts for r in rows)
    smtp.start()
    recovered, _ = run_until_settled(clean_engine, settings, now)
    assert {r.status for r in all_rows(session)} == {DeliveryStatus.SENT}
    assert received_mail(smtp) == owed
    print(
        f"\n[outage smtp-down-long] an hour down: none failed (max attempts {hour_attempts}),"
        f" all {count} sent {recovered - now} after recovery"
    )


def test_smtp_down_longer_than_give_up_hours(
    session: Session, clean_engine: Engine, smtp: FlakySmtp
) -> None:
    """Down for more than a day: messages that had their six attempts and waited 24 hours
    fail, saying how often they were tried; none is sent on recovery."""
    an_giang_with_reminders(session)
    count = len(all_rows(session))
    # Hourly runs and six senders keep the test short; the rule is the same every 5 minutes.
    settings = smtp_settings(smtp, delivery_concurrency=6)
    smtp.stop()
    start = now = clock.now_utc()
    failed_at = None
    while now < start + dt.timedelta(days=7):  # bounded; the rule is tested, not the speed
        deliver(clean_engine, settings, now)
        rows = all_rows(session)
        failed = [r for r in rows if r.status is DeliveryStatus.FAILED]
        if failed and failed_at is None:
            failed_at = now - start
        if len(failed) == count:
            break
        now += dt.timedelta(hours=1)
    assert failed_at is not None and failed_at >= dt.timedelta(hours=24)
    rows = all_rows(session)
    assert {r.status for r in rows} == {DeliveryStatus.FAILED}
    assert all("(đã thử" in (r.last_error or "") for r in rows)
    assert all(r.attempts >= 6 for r in rows)
    assert activities(session, "message_failed") == count
    smtp.start()
    assert deliver(clean_engine, settings, now).handled == 0 and smtp.messages == []
    print(
        f"\n[outage smtp-down-days] first failure after {failed_at} of outage, all {count}"
        f" failed after {now - start} (hourly runs); none sent on recovery"
    )


def test_smtp_answering_451_for_a_while(
    session: Session, clean_engine: Engine, smtp: FlakySmtp
) -> None:
    """451 to every recipient of one run and a few of the next: retried, each sent once."""
    an_giang_with_reminders(session)
    owed = owed_mail(session)
    count = sum(owed.values())
    smtp.defer_next(count + 5)
    settings = smtp_settings(smtp, delivery_backoff_seconds=60)

    first = deliver(clean_engine, settings, LATER)
    assert first.counts == Counter({"pending": count})
    assert all("451" in (r.last_error or "") for r in all_rows(session))
    _, reports = run_until_settled(clean_engine, settings, LATER + RUN_EVERY)

    rows = all_rows(session)
    assert {r.status for r in rows} == {DeliveryStatus.SENT}
    assert received_mail(smtp) == owed
    retries = sum(r.attempts for r in rows) - count
    assert retries == smtp.deferred == count + 5  # one retry per 451, no more
    print(
        f"\n[outage smtp-451] {smtp.deferred} deferrals over {len(reports) + 1} runs,"
        f" owed {count}, delivered {len(smtp.messages)},"
        f" duplicated {extra_copies(received_mail(smtp), owed)}, retries {retries}"
    )


@pytest.fixture
def short_smtp_timeout(monkeypatch: pytest.MonkeyPatch) -> float:
    """The SMTP timeout, shortened (there is no setting for it: apprise_adapter's 10 s
    default is used), so a stalled server costs half a second a message, not ten."""
    monkeypatch.setattr(
        mail,
        "email_url",
        functools.partial(apprise_adapter.email_url, connect_timeout=SMTP_TIMEOUT),
    )
    return SMTP_TIMEOUT


def test_smtp_slow_for_the_message_in_flight(
    session: Session, clean_engine: Engine, smtp: FlakySmtp, short_smtp_timeout: float
) -> None:
    """The server keeps a message but answers after the timeout: the email is retried (a
    duplicate email beats a lost one), so that one message, and only it, arrives twice."""
    an_giang_with_reminders(session)
    owed = owed_mail(session)
    count = sum(owed.values())
    smtp.stall_next(1, short_smtp_timeout * 4)
    settings = smtp_settings(smtp, delivery_backoff_seconds=60)

    first = deliver(clean_engine, settings, LATER)
    # The timeout stops the run's email: the rest is postponed, not tried.
    assert first.counts["pending"] >= 1 and first.email_halted, first.counts
    # (the postponed ones were not tried: attempts 0, the reason quoted in their last_error)
    [stuck] = [r for r in all_rows(session) if r.attempts == 1 and r.status.value == "pending"]
    assert "may have been sent" in (stuck.last_error or "")
    assert stuck.status is DeliveryStatus.PENDING
    run_until_settled(clean_engine, settings, LATER + RUN_EVERY)

    assert {r.status for r in all_rows(session)} == {DeliveryStatus.SENT}
    received = received_mail(smtp)
    assert +(owed - received) == Counter()  # nothing lost
    assert extra_copies(received, owed) == 1  # the one in flight, twice
    print(
        f"\n[outage smtp-slow-1] timeout {short_smtp_timeout}s, owed {count},"
        f" delivered {sum(received.values())}, duplicated {extra_copies(received, owed)}"
    )


def test_smtp_slow_for_a_while(
    session: Session, clean_engine: Engine, smtp: FlakySmtp, short_smtp_timeout: float
) -> None:
    """Slow for ~2 s of a run: the first timeout stops the run's email, the rest is
    postponed; only the emails in flight then (at most GIAOVIEC_DELIVERY_CONCURRENCY) time
    out and are resent. Nothing is lost; each timed-out message arrives exactly twice."""
    an_giang_with_reminders(session)
    owed = owed_mail(session)
    count = sum(owed.values())
    window = short_smtp_timeout * 4
    smtp.stall_for(window, short_smtp_timeout * 3)
    settings = smtp_settings(smtp, delivery_backoff_seconds=60)

    started = time.monotonic()
    first = deliver(clean_engine, settings, LATER)
    took = time.monotonic() - started
    timed_out = sum(r.attempts == 1 and r.status.value == "pending" for r in all_rows(session))
    concurrency = settings.delivery_concurrency
    assert 1 <= timed_out <= concurrency and first.email_halted, first.counts
    assert first.counts["sent"] + first.counts["pending"] == count, first.counts
    # The next run comes five minutes later in real life: long after the slow window.
    time.sleep(max(0.0, started + window - time.monotonic()))
    run_until_settled(clean_engine, settings, LATER + RUN_EVERY)

    assert {r.status for r in all_rows(session)} == {DeliveryStatus.SENT}
    received = received_mail(smtp)
    assert +(owed - received) == Counter()  # nothing lost
    duplicated = extra_copies(received, owed)
    assert duplicated == timed_out == smtp.stalled  # one extra copy per timeout, no more
    assert duplicated <= concurrency  # at most the emails in flight
    print(
        f"\n[outage smtp-slow-window] slow {window:.1f}s at timeout {short_smtp_timeout}s:"
        f" first run {took:.1f}s, owed {count}, timed out {timed_out},"
        f" delivered {sum(received.values())}, duplicated {duplicated}"
    )


# ------------------------------------------------------------------------------ Zalo

ZALO_USERS = {  # unit → (working contact, Zalo user id), from the built-in plan
    "VP-UBND": ("Trần Thị B", "8001"),
    "SVHTTDL": ("Võ Thị G", "8002"),
    "STC": ("Bùi Thị K", "8003"),  # not a follower (permanent): falls back to email
    "BAG": ("Ngô Thị M", "8004"),  # answers too late: unknown, never resent
    "DPTTH": ("Phan Thị P", "8005"),
}
ZALO_READ_TIMEOUT = 0.4


def test_zalo_errors_and_timeouts_for_a_while(
    session: Session,
    clean_engine: Engine,
    smtp: FlakySmtp,
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with FlakyZalo() as fake:
        for name, value in fake.env().items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()  # channels are chosen from the process settings
        settings = smtp_settings(
            smtp,
            delivery_backoff_seconds=60,
            **get_settings().model_dump(include={"zalo_oa_id", "zalo_app_id", "zalo_secret_key"}),
        )
        tokens = FileTokenStore(home / "zalo")
        tokens.seed(TokenPair(fake.access_token or "", fake.refresh_token))
        config = ZaloConfig(
            app_id=fake.app_id,
            secret_key=fake.secret_key,
            oa_base=fake.base_url,
            business_base=fake.base_url,
            oauth_base=fake.base_url,
            connect_timeout=1.0,
            read_timeout=ZALO_READ_TIMEOUT,  # there is no setting: ZaloConfig's 15 s otherwise
        )
        account = ZaloAccount("4318", config, tokens)
        monkeypatch.setattr(delivery, "_zalo_account", lambda _settings: account)

        store.load_plan(session, read_plan_file(BUILTIN_PLAN), "kiem-thu")
        for unit, (name, user_id) in ZALO_USERS.items():
            store.set_contact(session, unit, name, {"zalo_user_id": user_id}, "x")
        store.set_event_date(session, ANG, dt.date(2024, 3, 15), "x")
        store.activate_plan(session, ANG, "x", dt.date(2024, 2, 1))
        calendar = store.load_calendar(session)
        reminders.enqueue_daily(session, DAY, clock.now_for(DAY), calendar, get_settings())
        session.commit()
        user_of = {c.id: c.zalo_user_id for c in session.exec(select(Contact))}
        zalo_rows = [r for r in all_rows(session) if r.channel is Channel.ZALO]
        per_user = Counter(user_of[r.contact_id] for r in zalo_rows)
        assert set(per_user) == {u for _, u in ZALO_USERS.values()}

        # Phase 1 and 2: the endpoint answers HTTP 500, then 502 (one run each).
        now = LATER
        for status in (500, 502):
            fake.set_status(OA_PATH, status)
            deliver(clean_engine, settings, now)
            now += RUN_EVERY
            rows = [r for r in all_rows(session) if r.channel is Channel.ZALO]
            assert {r.status for r in rows} == {DeliveryStatus.PENDING}
            assert {r.last_error for r in rows} == {f"Zalo HTTP {status}"}
        fake.heal()

        # Phase 3: HTTP is fine again, but two users are rate limited (-32), one is not a
        # follower (-213), and one user's answers come after the read timeout.
        for user in ("8001", "8002"):
            fake.set_error(user, -32)
        fake.set_error("8003", -213)
        fake.slow_user("8004", ZALO_READ_TIMEOUT * 4)
        deliver(clean_engine, settings, now)
        now += RUN_EVERY
        by_user = Counter(
            (user_of[r.contact_id], r.status)
            for r in all_rows(session)
            if r.channel is Channel.ZALO
        )
        assert by_user[("8001", DeliveryStatus.PENDING)] == per_user["8001"]
        assert by_user[("8003", DeliveryStatus.FAILED)] == per_user["8003"]
        assert by_user[("8004", DeliveryStatus.UNKNOWN)] == per_user["8004"]
        assert by_user[("8005", DeliveryStatus.SENT)] == per_user["8005"]
        asked_8004 = fake.requests_for("8004")

        # Healthy: everything still owed goes out; the unknown ones are not asked again.
        for user in ("8001", "8002"):
            fake.clear_error(user)
        fake.slow_user("8004", 0)
        _, reports = run_until_settled(clean_engine, settings, now)

        rows = all_rows(session)
        zalo_rows = [r for r in rows if r.channel is Channel.ZALO]
        final = Counter((user_of[r.contact_id], r.status) for r in zalo_rows)
        for user in ("8001", "8002", "8005"):
            assert final[(user, DeliveryStatus.SENT)] == per_user[user]
        assert final[("8003", DeliveryStatus.FAILED)] == per_user["8003"]
        assert final[("8004", DeliveryStatus.UNKNOWN)] == per_user["8004"]
        assert fake.requests_for("8004") == asked_8004  # an unknown is never resent
        assert all("-213" in (r.last_error or "") for r in zalo_rows if r.status.value == "failed")
        # Zalo accepted each message once: the 8004 ones too (late answers, still delivered).
        assert set(fake.accepted.values()) == {1}
        accepted_users = Counter(user for user, _ in fake.accepted)
        assert accepted_users == Counter(
            {u: n for u, n in per_user.items() if u != "8003"}  # 8003 was never accepted
        )
        # The permanent failures fell back to email, each delivered once.
        fallbacks = [r for r in rows if r.fallback_of_id is not None]
        assert len(fallbacks) == per_user["8003"]
        assert {r.status for r in fallbacks} == {DeliveryStatus.SENT}
        assert {r.status for r in rows if r.channel is Channel.EMAIL} == {DeliveryStatus.SENT}
        assert received_mail(smtp) == owed_mail(session)
        requests = len(fake.requests_to(OA_PATH))
        retries = sum(r.attempts for r in zalo_rows) - len(zalo_rows)
        print(
            f"\n[outage zalo] {len(zalo_rows)} Zalo messages: HTTP 500 then 502 (one run each),"
            f" then -32 for 2 users, -213 for 1 ({per_user['8003']} fell back to email),"
            f" read timeouts for 1 ({per_user['8004']} unknown, not resent);"
            f" {requests} requests to Zalo, retries {retries},"
            f" accepted {sum(fake.accepted.values())} (none twice),"
            f" emails {len(smtp.messages)}, settled {len(reports)} run(s) after healing"
        )


# ------------------------------------------------------------------------------ PostgreSQL


def _postgres_binaries() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    return found[-1].parent if found else None


@pytest.fixture
def private_postgres() -> Iterator[tuple[str, Any]]:
    """A PostgreSQL cluster of this test's own, on a free port, stopped at the end always.

    Yields its URL and a function that restarts it (``pg_ctl restart -m fast``). PostgreSQL
    refuses to run as root, so its commands run as the ``postgres`` user through runuser.
    """
    bins = _postgres_binaries()
    if bins is None:
        pytest.skip("PostgreSQL server binaries (/usr/lib/postgresql/*/bin) are not installed")
    if shutil.which("runuser") is None or os.geteuid() != 0:
        pytest.skip("needs root and runuser to run a private cluster as the postgres user")
    try:
        owner = pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("no postgres OS user to run a private cluster")
    # Not pytest's tmp_path: its parents are root-only, and postgres must reach its folder.
    folder = Path(tempfile.mkdtemp(prefix="giaoviec-pg-"))
    os.chown(folder, owner.pw_uid, owner.pw_gid)
    data, log = folder / "data", folder / "server.log"
    port = free_port()

    def as_postgres(*command: str) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", *command],
            check=True,
            capture_output=True,
            timeout=120,
        )

    def pg_ctl(*args: str) -> None:
        as_postgres(str(bins / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", *args)

    try:
        as_postgres(
            str(bins / "initdb"),
            *("-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-locale"),
            "--no-sync",
        )
        options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        pg_ctl("-o", options, "start")
        yield (
            f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres",
            functools.partial(pg_ctl, "-m", "fast", "restart"),
        )
    finally:
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            pg_ctl("-m", "immediate", "stop")
        shutil.rmtree(folder, ignore_errors=True)


def test_postgres_restarted_during_delivery(
    database_url: str,
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
    smtp: FlakySmtp,
    private_postgres: tuple[str, Any],
) -> None:
    """The database restarts while `giaoviec deliver` works through a slow SMTP server.

    Only in the PostgreSQL run of the suite: a restart under a client is a PostgreSQL
    failure mode (SQLite has no server), and the test brings its own cluster, so running it
    in the SQLite run too would repeat the same thing.
    """
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL failure mode: runs in the suite's PostgreSQL run")
    url, restart = private_postgres
    monkeypatch.setenv("GIAOVIEC_DATABASE_URL", url)
    get_settings.cache_clear()
    engine = db.get_engine(url)
    db.migrate(engine)
    with Session(engine, expire_on_commit=False) as session:
        an_giang_with_reminders(session)
        owed = owed_mail(session)
    count = sum(owed.values())
    smtp.delay_data(0.2)  # about 0.25 s a message: the run lasts several seconds
    env = smtp_cli_env(home, url, smtp, GIAOVIEC_DELIVERY_LEASE_SECONDS="1")

    worker = subprocess.Popen(
        [sys.executable, "-m", "cli", "deliver"],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 60
    while len(smtp.messages) < 5 and worker.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert worker.poll() is None, "the run ended before the restart"
    sent_before = len(smtp.messages)
    started = time.monotonic()
    restart()
    restart_took = time.monotonic() - started
    output, _ = worker.communicate(timeout=120)
    first_code = worker.returncode
    if first_code != 0:
        # The operator must be able to tell why the run stopped.
        assert "OperationalError" in output or "connection" in output.lower(), output

    smtp.delay_data(0)
    time.sleep(1.1)  # the first run's leases run out
    second = subprocess.run(
        [sys.executable, "-m", "cli", "deliver"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert second.returncode == 0, second.stdout + second.stderr
    with Session(engine) as session:
        statuses = Counter(
            r.status.value
            for r in session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))
        )
    engine.dispose()
    assert statuses == Counter({"sent": count})
    received = received_mail(smtp)
    assert +(owed - received) == Counter()  # every owed message arrived
    duplicated = extra_copies(received, owed)
    # At most the emails in flight: one per sender (GIAOVIEC_DELIVERY_CONCURRENCY).
    assert duplicated <= get_settings().delivery_concurrency
    last_lines = [line for line in output.strip().splitlines() if line.strip()][-2:]
    print(
        f"\n[outage postgres-restart] restart took {restart_took:.1f}s after {sent_before}"
        f" sent; first run exit {first_code}, traceback shown: {'Traceback' in output},"
        f" last lines: {last_lines}; owed {count}, delivered {sum(received.values())},"
        f" duplicated {duplicated}"
    )
