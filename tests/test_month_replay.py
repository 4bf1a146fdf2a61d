"""Acceptance test: the An Giang plan lived for two months, every message compared with a golden
file that a person has read.

The plan (event on Friday 15/03/2024) is activated on Monday 22/01/2024 and replayed day by day
until Friday 29/03/2024, two weeks after the event, with the real sweep and delivery code
(``services.day.sweep_day``) and ``today`` injected, against the real SMTP test server
(``tests/smtp_server.py``). The officers act the way the mail asks them to: they open the
one-click links of the mail they received (through the real web application) and submit,
confirm, return, report a blocker, extend or lift it. The script (``SCRIPT`` below) covers work
done on time, a return, a blocker with an extension, late work and work never done.

Every email that reaches the SMTP server becomes one entry of ``tests/golden/month_replay.txt``:
the day, the kind, the recipient, the subject and the key sentences of the body (headline,
greeting, what happened, what is asked). The test fails on any difference, so a change of who
hears what, or of what they are told, shows up in review as a diff of that file.

Regenerate the golden file after an intended change, then read the diff:

    GIAOVIEC_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_month_replay.py
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import html as html_lib
import os
import re
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from models.enums import DeliveryStatus
from models.tables import Contact, OutboxMessage
from notifications.delivery import deliver
from services.day import sweep_day
from tests.browser import csrf_of, http_client
from tests.conftest import BUILTIN_PLAN
from tests.smtp_server import SmtpTestServer
from tracking import clock, reminders, store
from tracking.planio import read_plan_file
from tracking.settings import Settings, get_settings

GOLDEN = Path(__file__).with_name("golden") / "month_replay.txt"
UPDATE = os.environ.get("GIAOVIEC_UPDATE_GOLDEN") == "1"
PLAN = "an-giang-2024-hoi-nghi-thi-dua"
EVENT = dt.date(2024, 3, 15)
FIRST, LAST = dt.date(2024, 1, 22), dt.date(2024, 3, 29)
PUBLIC_URL = "http://testserver"
COORDINATOR = "chuyenvien.bantdkt@example.gov.vn"  # Phạm Thị D acts for the coordinator


@dataclasses.dataclass(frozen=True)
class Step:
    """One scripted click: on ``day``, the recipient of a ``kind`` mail about ``code`` opens
    its ``label`` link and sends the form with ``fields``."""

    day: dt.date
    code: str
    kind: str
    label: str
    fields: dict[str, str] = dataclasses.field(default_factory=dict)


D = dt.date
SCRIPT = [
    # A blocker: the Đài cannot start the documentary; the coordinator extends it, the Đài
    # lifts the blocker, and submits on the new date (through the default behaviour below).
    Step(
        D(2024, 2, 21),
        "PTTH-01",
        "upcoming",
        "Báo vướng mắc",
        {"reason": "Chưa nhận được danh sách tập thể, cá nhân được khen thưởng"},
    ),
    Step(
        D(2024, 2, 22),
        "PTTH-01",
        "blocked",
        "Gia hạn",
        {"new_due": "2024-03-05", "reason": "Chờ danh sách khen thưởng chính thức"},
    ),
    Step(D(2024, 2, 26), "PTTH-01", "extended", "Gỡ vướng mắc"),
    # Late work: Sở Tài chính submits three working days late, from its overdue reminder.
    Step(
        D(2024, 2, 28),
        "TC-01",
        "overdue",
        "Báo cáo hoàn thành",
        {"note": "Đã có Công văn thẩm định kinh phí"},
    ),
    # A return: the list is returned for missing units, and submitted again late.
    Step(
        D(2024, 2, 29),
        "SNV-01",
        "submitted",
        "Trả lại",
        {"reason": "Danh sách còn thiếu 3 tập thể đề nghị khen thưởng"},
    ),
    Step(
        D(2024, 3, 4), "SNV-01", "overdue", "Báo cáo hoàn thành", {"note": "Đã bổ sung danh sách"}
    ),
]
# Work never done: the performances (VH-01) are never reported.
NEVER = {"VH-01"}
# The default, for everything else: a unit submits from its "due today" mail, the coordinator
# confirms from the "please confirm" mail on the next working day (unless the script decides).
NOT_BY_DEFAULT = NEVER | {"TC-01"}


@pytest.fixture
def smtp() -> Iterator[SmtpTestServer]:
    with SmtpTestServer() as server:
        yield server


@pytest.fixture
def world(
    clean_engine: Engine, smtp: SmtpTestServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Engine]:
    for name, value in smtp.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("GIAOVIEC_PUBLIC_URL", PUBLIC_URL)
    monkeypatch.setenv("GIAOVIEC_SECRET_KEY", "r" * 48)
    # One sender: the mails arrive in the outbox's order, so each is paired with its row.
    monkeypatch.setenv("GIAOVIEC_DELIVERY_CONCURRENCY", "1")
    get_settings.cache_clear()
    with Session(clean_engine) as session:
        store.load_plan(session, read_plan_file(BUILTIN_PLAN), "kiem-thu")
        store.set_event_date(session, PLAN, EVENT, "Lê Văn C")
        session.commit()
    yield clean_engine
    get_settings.cache_clear()


@dataclasses.dataclass(frozen=True)
class Mail:
    """One email as it arrived, with the outbox row it came from."""

    day: dt.date
    kind: str
    code: str | None
    to: str
    subject: str
    lines: tuple[str, ...]
    links: dict[str, str]

    def entry(self) -> str:
        head = f"{self.day.isoformat()} {self.kind} {self.code or '-'} → {self.to}"
        return "\n".join([head, f"  Tiêu đề: {self.subject}", *(f"  | {x}" for x in self.lines)])


_ANCHOR = re.compile(r'<a href="([^"]+)"[^>]*>(.*?)</a>', re.S)
_BLOCK = re.compile(r"<(h1|p|tr)\b[^>]*>(.*?)</\1>", re.S)
# Fact rows every message of a kind shows alike (the plan, the assignment, its units): left
# out of the golden file. The others (due dates, who acted, reasons, notes) are kept.
_STATIC_ROWS = (
    "Kế hoạch:",
    "Sự kiện:",
    "Thời gian tổ chức:",
    "Nhiệm vụ:",
    "Nội dung:",
    "Đơn vị chủ trì:",
    "Đơn vị phối hợp:",
    "Mã ",
)


def _html_of(message: EmailMessage) -> str:
    part = message.get_body(("html",))
    assert part is not None, "an email without an HTML part"
    return str(part.get_content())


def _key_lines(html: str) -> tuple[str, ...]:
    """The headline and the paragraphs a reader reads: greeting, copy note, what happened,
    what is asked, whom to contact (not the date line, the buttons or the footer)."""
    found = []
    for tag, inner in _BLOCK.findall(html):
        if "<a " in inner:
            continue
        if tag == "tr":  # a fact row: "label: value"
            inner = re.sub(r"</th>\s*<td", ":</th><td", inner)
        text = " ".join(html_lib.unescape(re.sub(r"<[^>]+>", " ", inner)).split())
        text = text.replace(" :", ":")
        if not text or text.startswith(("Ngày ", "Thư này được gửi tự động", *_STATIC_ROWS)):
            continue
        found.append(text)
    return tuple(found)


class Month:
    """The replay: days, deliveries, the mail that arrived, and the officers' clicks."""

    def __init__(self, engine: Engine, smtp: SmtpTestServer) -> None:
        from web.app import create_app

        self.engine = engine
        self.smtp = smtp
        self.day = FIRST
        self.mails: list[Mail] = []
        self.client = http_client(
            create_app(engine, today=lambda: self.day, now=lambda: clock.now_for(self.day))
        )

    def collect(self) -> list[Mail]:
        """Pair the mails that arrived with the outbox rows sent since the last call."""
        received = self.smtp.messages
        self.smtp.clear()
        with Session(self.engine) as session:
            rows = list(
                session.exec(
                    select(OutboxMessage)
                    .where(OutboxMessage.status == DeliveryStatus.SENT)
                    .where(col(OutboxMessage.id) > self._last_id)
                    .order_by(col(OutboxMessage.id))
                )
            )
            assert len(rows) == len(received), (self.day, len(rows), len(received))
            new = []
            for row, got in zip(rows, received, strict=True):
                contact = session.get(Contact, row.contact_id)
                assert contact is not None and got.rcpt_tos == (contact.email,)
                assignment = store.outbox_view(session, row)["assignment"]
                html = _html_of(got.message)
                new.append(
                    Mail(
                        self.day,  # the day it arrived (a Monday off sends on the next one)
                        row.kind.value,
                        assignment,
                        f"{contact.name} <{contact.email}>",
                        str(got.message["Subject"]),
                        _key_lines(html),
                        {html_lib.unescape(label): url for url, label in _ANCHOR.findall(html)},
                    )
                )
            if rows:
                self._last_id = rows[-1].id or self._last_id
        self.mails.extend(new)
        return new

    _last_id = 0

    def click(self, mail: Mail, label: str, fields: dict[str, str] | None = None) -> None:
        url = mail.links.get(label)
        assert url, f"{self.day}: no “{label}” link in {mail.kind} {mail.code} to {mail.to}"
        path = url.removeprefix(PUBLIC_URL)
        page = self.client.get(path)
        assert page.status_code == 200, page.text
        done = self.client.post(path, data={"csrf_token": csrf_of(page.text), **(fields or {})})
        assert done.status_code == 200 and "Đã ghi nhận" in done.text, (mail, done.text[-2000:])

    def run(self) -> None:
        with Session(self.engine) as session:
            store.activate_plan(session, PLAN, "Lê Văn C", FIRST)
            session.commit()
        settings = get_settings()
        waiting_confirmation: list[Mail] = []
        while self.day <= LAST:
            if self.day.weekday() == 0:  # Monday: the weekly report, as the flow enqueues it
                self._weekly_report(settings)
            result = sweep_day(self.engine, self.day, settings)
            if not result.working_day:
                self.day += dt.timedelta(days=1)
                continue
            today = self.collect()
            scripted = [step for step in SCRIPT if step.day == self.day]
            for step in scripted:
                self.click(self._mail(step.code, step.kind), step.label, step.fields)
            # Yesterday's "please confirm" mails, confirmed this morning.
            for mail in waiting_confirmation:
                if not any(step.code == mail.code for step in scripted):
                    self.click(mail, "Xác nhận hoàn thành")
            waiting_confirmation = []
            for mail in today:
                if (
                    mail.kind == "due_today"
                    and mail.code not in NOT_BY_DEFAULT
                    and "Báo cáo hoàn thành" in mail.links
                ):
                    self.click(mail, "Báo cáo hoàn thành", {"note": "Đã hoàn thành nhiệm vụ"})
            # What the clicks caused goes out the same day.
            deliver(self.engine, settings, clock.now_for(self.day))
            caused = self.collect()
            for mail in today + caused:
                if mail.kind == "submitted" and mail.to.endswith(f"<{COORDINATOR}>"):
                    waiting_confirmation.append(mail)
            self.day += dt.timedelta(days=1)

    def _weekly_report(self, settings: Settings) -> None:
        with Session(self.engine) as session:
            plan = store.get_plan(session, PLAN)
            calendar = store.load_calendar(session)
            now = clock.now_for(self.day)
            reminders.enqueue_weekly(session, plan, self.day, now, calendar, settings)
            session.commit()

    def _mail(self, code: str, kind: str) -> Mail:
        """The latest mail of ``kind`` about ``code`` that carries links."""
        for mail in reversed(self.mails):
            if mail.code == code and mail.kind == kind and mail.links:
                return mail
        raise AssertionError(f"{self.day}: no {kind} mail about {code} with links")


def _render(mails: list[Mail]) -> str:
    header = (
        "# The messages of the An Giang plan, activated 22/01/2024, event 15/03/2024, replayed\n"
        "# to 29/03/2024 (tests/test_month_replay.py). One entry per email: day, kind,\n"
        "# assignment, recipient; subject; key sentences of the body.\n"
        "# Regenerate: GIAOVIEC_UPDATE_GOLDEN=1 python -m pytest tests/test_month_replay.py\n"
    )
    ordered = sorted(mails, key=lambda m: (m.day, m.kind, m.code or "", m.to, m.subject))
    return header + "\n" + "\n\n".join(m.entry() for m in ordered) + "\n"


def test_two_months_of_messages_match_the_reviewed_golden_file(
    world: Engine, smtp: SmtpTestServer
) -> None:
    month = Month(world, smtp)
    month.run()
    text = _render(month.mails)
    if UPDATE:
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(text, encoding="utf-8")
    assert GOLDEN.exists(), f"no golden file: run with GIAOVIEC_UPDATE_GOLDEN=1 ({GOLDEN})"
    expected = GOLDEN.read_text(encoding="utf-8")
    assert text == expected, "the messages differ from tests/golden/month_replay.txt"
