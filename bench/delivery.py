"""Email delivery: giaoviec's outbox delivery beside a plain ``smtplib`` loop, same server.

A local SMTP server (aiosmtpd, in a process of its own so it never shares a GIL with the
sender) only counts what it receives. Two senders, each in a fresh child process:

* ``giaoviec`` — the real path: outbox rows enqueued by the application's own reminder code
  on generated data (``bench.generate``), then ``notifications.delivery.deliver`` with SMTP
  settings pointing at the server (``GIAOVIEC_SMTP_SECURITY=none``): claim, compose (Jinja2),
  send through Apprise, one commit and one activity row per message.
* ``smtplib`` — the floor: one ``smtplib.SMTP`` connection, N ready-made messages of the same
  size and shape (multipart/alternative text + HTML, Vietnamese subject), one recipient each,
  no database.

The server must count exactly N messages from each variant, else the run fails.

    python -m bench.delivery                              # 5,000 messages on SQLite
    python -m bench.delivery --postgres                   # …and on PostgreSQL (test_deliv)
    python -m bench.delivery --messages 50                # the smoke test's size
"""

from __future__ import annotations

import argparse
import datetime as dt
import email.message
import email.utils
import json
import math
import os
import signal
import smtplib
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.common import (
    REPO,
    database_label,
    emit,
    fresh_database,
    machine,
    peak_rss_mb,
    run_child,
    table,
)
from bench.generate import DEFAULT_TODAY, Sizes

PG_DELIVERY = "postgresql+psycopg://postgres@127.0.0.1:5432/test_deliv"
SENDER = "tdkt@bench.gov.vn"
# Outbox rows one generated day yields per 100-assignment plan, roughly (8 to 9 measured).
_ROWS_PER_PLAN_DAY = 8


# --- the server: a process of its own that counts ------------------------------------------


class _CountingHandler:
    """aiosmtpd hooks: accept everything, keep only counts (no parsing, no storage)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.messages = 0
        self.recipients = 0
        self.bytes = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content = envelope.content if isinstance(envelope.content, bytes) else b""
        with self.lock:
            self.messages += 1
            self.recipients += len(envelope.rcpt_tos)
            self.bytes += len(content)
        return "250 OK"

    def take(self) -> dict[str, int]:
        """The counts since the last call, and reset (one variant's worth)."""
        with self.lock:
            figures = {"messages": self.messages, "recipients": self.recipients}
            figures["bytes"] = self.bytes
            self.messages = self.recipients = self.bytes = 0
        return figures


def serve(port: int) -> None:
    """Run the counting server until stdin closes; ``count`` on stdin prints and resets."""
    from aiosmtpd.controller import Controller

    handler = _CountingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=port, ready_timeout=10.0)
    controller.start()
    print("READY", flush=True)
    try:
        for line in sys.stdin:
            if line.strip() == "count":
                print(json.dumps(handler.take()), flush=True)
    finally:
        controller.stop()


class CountingServer:
    """The parent's handle on the server process."""

    def __init__(self) -> None:
        from tests.smtp_server import free_port

        self.port = free_port()
        self._process = subprocess.Popen(
            [sys.executable, "-m", "bench.delivery", "--serve", "--port", str(self.port)],
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._process.stdout is not None
        if self._process.stdout.readline().strip() != "READY":
            raise SystemExit("the SMTP server process did not start")

    def take(self) -> dict[str, int]:
        assert self._process.stdin is not None and self._process.stdout is not None
        self._process.stdin.write("count\n")
        self._process.stdin.flush()
        figures: dict[str, int] = json.loads(self._process.stdout.readline())
        return figures

    def close(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.send_signal(signal.SIGKILL)
            self._process.wait()


# --- preparing the outbox (not measured) ---------------------------------------------------


def prepare_outbox(url: str, messages: int) -> dict[str, Any]:
    """Generated plans, then the reminders of consecutive working days enqueued by the
    application's own code until at least ``messages`` rows wait; the rest is trimmed so
    exactly ``messages`` email rows are due. Returns a sample message for the floor."""
    from sqlalchemy import delete, func, select
    from sqlmodel import Session, col

    from bench.generate import generate
    from models.enums import Channel
    from models.tables import OutboxMessage
    from notifications.compose import compose
    from services import day as sweep
    from tracking import db, store
    from tracking.settings import get_settings

    fresh_database(url)
    db.get_engine.cache_clear()
    engine = db.get_engine(url)
    plans = max(2, math.ceil(messages / (_ROWS_PER_PLAN_DAY * 10)))
    generate(engine, Sizes(plans=plans, per_plan=100))
    settings = get_settings()
    day, days = DEFAULT_TODAY, 0
    with Session(engine) as session:
        calendar = store.load_calendar(session)
    while True:
        with Session(engine) as session:
            count = session.execute(select(func.count()).select_from(OutboxMessage)).scalar_one()
        if count >= messages:
            break
        if days > 400:
            raise SystemExit(f"only {count} outbox rows after {days} days")
        if calendar.is_working_day(day):
            sweep.enqueue_day(engine, day, settings)
            days += 1
        day += dt.timedelta(days=1)
    with Session(engine) as session:
        key = col(OutboxMessage.id)
        last = max(session.execute(select(key).order_by(key).limit(messages)).scalars())
        session.execute(delete(OutboxMessage).where(key > last))
        session.commit()
        rows = list(session.execute(select(OutboxMessage)).scalars())
        if len(rows) != messages or {r.channel for r in rows} != {Channel.EMAIL}:
            raise SystemExit(f"prepared {len(rows)} rows on {[r.channel for r in rows][:3]}")
        # A typical message for the floor: the median-sized rendering of a sample of rows.
        rendered = sorted(
            (compose(session, row, calendar) for row in rows[:: max(1, len(rows) // 50)]),
            key=lambda r: len(r.html) + len(r.text),
        )
        sample = rendered[len(rendered) // 2]
        addresses = [str(store.outbox_view(session, row)["address"]) for row in rows]
    engine.dispose()
    db.get_engine.cache_clear()
    return {
        "days": days,
        "plans": plans,
        "subject": sample.subject,
        "text": sample.text,
        "html": sample.html,
        "addresses": addresses,
    }


# --- the child side: one variant, measured -------------------------------------------------


def run_giaoviec(url: str, port: int, messages: int) -> dict[str, Any]:
    from notifications.delivery import deliver
    from tracking import clock, db
    from tracking.settings import get_settings

    settings = get_settings()
    assert settings.smtp_port == port and settings.smtp_security == "none"
    engine = db.get_engine(url)
    now = clock.now_utc() + dt.timedelta(days=400)  # every generated row is due
    started = time.perf_counter()
    report = deliver(engine, settings, now)
    wall = time.perf_counter() - started
    return {
        "wall": wall,
        "peak_mb": peak_rss_mb(),
        "counts": dict(report.counts),
        "concurrency": getattr(settings, "delivery_concurrency", 1),
    }


def run_smtplib(sample_file: str, port: int, messages: int) -> dict[str, Any]:
    sample = json.loads(Path(sample_file).read_text("utf-8"))
    addresses: list[str] = sample["addresses"]
    started = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as connection:
        for n in range(messages):
            mail = email.message.EmailMessage()
            mail["Subject"] = sample["subject"]
            mail["From"] = email.utils.formataddr(("Ban Thi đua - Khen thưởng", SENDER))
            mail["To"] = addresses[n % len(addresses)]
            mail["Date"] = email.utils.formatdate(localtime=True)
            mail["Message-ID"] = email.utils.make_msgid(idstring=f"bench-{n}")
            mail.set_content(sample["text"])
            mail.add_alternative(sample["html"], subtype="html")
            connection.send_message(mail, SENDER, [addresses[n % len(addresses)]])
    wall = time.perf_counter() - started
    return {"wall": wall, "peak_mb": peak_rss_mb(), "counts": {"sent": messages}}


# --- the parent: prepare, run each variant, check the server's counts ---------------------


def _measure(
    server: CountingServer, variant: str, args: list[str], env: dict[str, str], messages: int
) -> dict[str, Any]:
    server.take()  # start from zero
    figures = run_child("delivery", ["--variant", variant, *args], env)
    received = server.take()
    if received["messages"] != messages or received["recipients"] != messages:
        raise SystemExit(
            f"{variant}: the server received {received['messages']} messages for "
            f"{received['recipients']} recipients, expected exactly {messages}"
        )
    figures["received"] = received
    return figures


def bench_database(url: str, messages: int, server: CountingServer, scratch: Path) -> str:
    started = time.perf_counter()
    sample = prepare_outbox(url, messages)
    prepared = time.perf_counter() - started
    sample_file = scratch / "sample.json"
    sample_file.write_text(json.dumps(sample, ensure_ascii=False), "utf-8")
    env = {
        "GIAOVIEC_HOME": str(scratch / "home"),
        "GIAOVIEC_DATABASE_URL": url,
        "GIAOVIEC_SMTP_HOST": "127.0.0.1",
        "GIAOVIEC_SMTP_PORT": str(server.port),
        "GIAOVIEC_SMTP_SECURITY": "none",
        "GIAOVIEC_SMTP_FROM": SENDER,
    }
    common = ["--port", str(server.port), "--messages", str(messages)]
    ours = _measure(server, "giaoviec", ["--url", url, *common], env, messages)
    if ours["counts"] != {"sent": messages}:
        raise SystemExit(f"giaoviec: outcomes {ours['counts']}, expected {messages} sent")
    floor = _measure(server, "smtplib", ["--url", str(sample_file), *common], env, messages)
    rows = []
    for name, figures in (
        (f"giaoviec deliver ({ours['concurrency']} sender(s))", ours),
        ("plain smtplib, one connection", floor),
    ):
        received = figures["received"]
        rows.append(
            [
                name,
                figures["wall"],
                messages / figures["wall"],
                figures["peak_mb"],
                received["bytes"] // max(received["messages"], 1),
                received["messages"],
            ]
        )
    title = (
        f"Email delivery, {messages:,} messages on {database_label(url)} (outbox from "
        f"{sample['plans']} generated plans, {sample['days']} day(s) of reminders, prepared in "
        f"{prepared:.1f} s); giaoviec / smtplib = {floor['wall'] / ours['wall']:.2f}× the speed"
    )
    header = ["variant", "wall s", "msgs/s", "peak RSS MB", "bytes/msg", "server received"]
    return table(title, header, rows)


_VARIANTS = {"giaoviec": run_giaoviec, "smtplib": run_smtplib}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--variant", choices=sorted(_VARIANTS), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument(
        "--postgres", nargs="?", const=PG_DELIVERY, help="also run on this PostgreSQL URL"
    )
    args = parser.parse_args()
    if args.serve:
        serve(args.port)
        return
    if args.child:
        emit(_VARIANTS[args.variant](args.url, args.port, args.messages))
        return
    print(f"Machine: {machine()}; load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    server = CountingServer()
    try:
        with tempfile.TemporaryDirectory(prefix="giaoviec-bench-") as scratch:
            folder = Path(scratch)
            os.environ["GIAOVIEC_HOME"] = str(folder / "home")  # preparation's settings
            urls = [f"sqlite:///{folder / 'bench-delivery.db'}"]
            if args.postgres:
                urls.append(args.postgres)
            for url in urls:
                print(bench_database(url, args.messages, server, folder), flush=True)
    finally:
        server.close()
    print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
