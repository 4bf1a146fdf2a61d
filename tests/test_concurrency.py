"""Concurrency through the real interfaces: many people and workers acting at the same time.

Two scenes, each on whichever database the session runs on (SQLite or PostgreSQL):

- **People**: a real ``giaoviec web`` (uvicorn in a subprocess, on a free loopback port) and
  ``giaoviec`` commands in subprocesses, used at once by many clients. Web clients log in as
  real accounts, read an assignment's page and post one of the forms it offers, with the CSRF
  token and the version the page showed, as a browser would; command-line clients act blind
  (the CLI sends no version). Every attempt carries a unique tag in its note or reason, so
  afterwards each one can be found, or not found, in the activity history.
- **Workers**: several ``giaoviec deliver`` processes started together on one outbox of a few
  hundred messages, sending to a real SMTP server on loopback.

SQLite serialises writers and PostgreSQL takes row locks; the promises checked are the same on
both: no lost update, no message sent twice. ``pytest --soak`` scales both scenes up.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from models.enums import AssignmentState, DeliveryStatus
from models.tables import Activity, Assignment, Department, OutboxMessage
from models.web_tables import UserRole
from notifications.compose import compose
from tests.browser import csrf_of, free_port
from tests.conftest import BUILTIN_PLAN, REPO, cli_env
from tests.smtp_server import SmtpTestServer
from tracking import accounts, clock, db, reminders, store
from tracking.planio import read_plan_file
from tracking.settings import get_settings
from tracking.status import Action, next_state
from web.labels import state_label

ANG = "an-giang-2024-hoi-nghi-thi-dua"
EVENT = dt.date(2024, 3, 15)
TODAY = dt.date(2024, 3, 4)
PASSWORD = "mat-khau-dong-thoi"
SECRET = "c" * 48
LIFECYCLE = frozenset(a.value for a in Action)

# The assignments every client fights over; their lead units have department accounts below.
HOT = ("SNV-01", "SNV-02", "TC-01")
# username -> (role, unit, display name). Hashed with argon2's real parameters, as the server
# would rehash cheap ones on login and so end the other sessions of the same account.
ACCOUNTS: dict[str, tuple[UserRole, str | None, str]] = {
    "tdkt.a": (UserRole.COORDINATOR, None, "Điều phối A"),
    "snv.cb": (UserRole.DEPARTMENT, "SNV", "Cán bộ Ban TĐ-KT"),
    "stc.cb": (UserRole.DEPARTMENT, "STC", "Cán bộ Sở Tài chính"),
    "vp.cb": (UserRole.DEPARTMENT, "VP-UBND", "Cán bộ Văn phòng"),
}
CLI_ACCOUNT = ("tdkt.b", "Điều phối B")  # made with `giaoviec user add`, as an operator would

# How often a client picks each action among those the page offers: returns outweigh
# confirmations so assignments keep cycling (done is final) and races stay plentiful.
WEIGHTS: dict[Action, int] = {
    Action.START: 1,
    Action.SUBMIT: 3,
    Action.RETURN: 4,
    Action.CONFIRM: 1,
    Action.BLOCK: 1,
    Action.UNBLOCK: 2,
}
CLI_WEIGHTS: dict[Action, int] = {
    Action.START: 1,
    Action.SUBMIT: 3,
    Action.RETURN: 3,
    Action.CONFIRM: 1,
}
NEEDS_REASON = frozenset({Action.RETURN, Action.BLOCK})

CONFLICT_TEXT = "vừa được người khác cập nhật"  # store.ConcurrentUpdate
STATE_TEXT = "Không thể"  # status.IllegalTransition

_FORM = re.compile(
    r'name="action" value="([a-z]+)">\s*<input type="hidden" name="version" value="(\d+)">'
)
_STATE_BADGE = re.compile(r'<p class="badges">\s*<span class="badge [^"]*">([^<]+)</span>')


@dataclasses.dataclass(frozen=True)
class Scale:
    web_clients: int
    web_attempts: int  # per web client
    cli_clients: int
    cli_attempts: int  # per command-line client
    extra_staff: int  # contacts added to each unit, to grow the outbox
    first_day: dt.date  # daily reminders are enqueued from this day to the event
    workers: int


@pytest.fixture
def scale(soak: bool) -> Scale:
    if soak:
        return Scale(200, 15, 8, 15, 6, dt.date(2024, 2, 19), 4)
    return Scale(50, 6, 4, 6, 1, dt.date(2024, 2, 26), 2)


def child_env(home: Path, database_url: str, **extra: str) -> dict[str, str]:
    """What a user's shell would give a `giaoviec` process here."""
    # Rich must not wrap the messages the test reads.
    return cli_env(home, database_url, GIAOVIEC_SECRET_KEY=SECRET, COLUMNS="500", **extra)


# --- the people's scene ------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Attempt:
    client: str
    via: str  # "web" or "cli"
    code: str
    action: Action
    tag: str
    outcome: str  # "ok", "conflict" (version moved), "state" (the state refused it), "odd"
    shown_state: str | None = None  # web only: the state the page showed
    detail: str = ""


def setup_plan(engine: Engine) -> dict[str, int]:
    """The An Giang plan, dated and live (actions enqueue messages), with web accounts."""
    with db.session_scope(engine) as session:
        store.load_plan(session, read_plan_file(BUILTIN_PLAN), "kiem-thu")
        store.set_event_date(session, ANG, EVENT, "kiem-thu")
        store.activate_plan(session, ANG, "kiem-thu", dt.date(2024, 2, 1))
        for username, (role, unit, name) in ACCOUNTS.items():
            accounts.create_user(session, username, PASSWORD, role, unit, name)
        return {a.code: a.id for a in session.exec(select(Assignment)) if a.id is not None}


def units_of(engine: Engine) -> dict[str, list[str]]:
    """Assignment codes by lead unit code."""
    with Session(engine) as session:
        rows = session.exec(
            select(Assignment.code, Department.code).join(
                Department, col(Department.id) == col(Assignment.lead_department_id)
            )
        ).all()
    found: dict[str, list[str]] = {}
    for code, unit in rows:
        found.setdefault(unit, []).append(code)
    return found


@contextmanager
def web_server(env: dict[str, str], log: Path) -> Iterator[str]:
    """`giaoviec web` on a free loopback port, its output in ``log``; yields the base URL."""
    port = free_port()
    with log.open("wb") as sink:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "cli",
                "web",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--today",
                TODAY.isoformat(),
            ],
            env=env,
            cwd=REPO,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if server.poll() is not None:
                pytest.fail(f"giaoviec web exited early:\n{log.read_text('utf-8')}")
            try:
                if httpx.get(f"{base}/login", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"giaoviec web did not answer:\n{log.read_text('utf-8')}")
            time.sleep(0.1)
        yield base
    finally:
        server.send_signal(signal.SIGINT)  # uvicorn's graceful shutdown
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)


def login(client: httpx.Client, username: str) -> None:
    token = csrf_of(client.get("/login").text)
    response = client.post(
        "/login",
        data={"csrf_token": token, "username": username, "password": PASSWORD, "next": "/"},
    )
    assert response.status_code == 303, (username, response.status_code, response.text[:500])


def offered_forms(html: str) -> dict[Action, int]:
    """The action forms the page offers, each with the version it carries."""
    return {Action(a): int(v) for a, v in _FORM.findall(html)}


def weighted(rng: random.Random, choices: Sequence[Action], weights: dict[Action, int]) -> Action:
    return rng.choices(list(choices), [weights[a] for a in choices])[0]


def web_client(
    number: int,
    base: str,
    username: str,
    targets: list[str],
    ids: dict[str, int],
    attempts: int,
    barrier: threading.Barrier,
    idle: list[int],
) -> list[Attempt]:
    """One person in a browser: log in, then read a page and post one of its forms, again.

    ``idle[0]`` counts the pages read that offered nothing this client would do.
    """
    rng = random.Random(number)
    done: list[Attempt] = []
    # Generous: 200 simultaneous argon2 logins on two cores take about a minute.
    with httpx.Client(base_url=base, timeout=300, follow_redirects=False) as client:
        try:
            login(client, username)
        except BaseException:
            barrier.abort()  # the others stop waiting at once and the cause is reported
            raise
        barrier.wait()
        for n in range(attempts):
            tag = f"[w{number}-{n}]"
            # A page with nothing this client would do (done, or awaiting the coordinator)
            # sends the person to another assignment, or back a moment later; a few tries.
            for _ in range(6):
                code = rng.choice(HOT) if rng.random() < 0.5 else rng.choice(targets)
                page = client.get(f"/assignments/{ids[code]}")
                assert page.status_code == 200, (code, page.status_code, page.text[:500])
                offered = {a: v for a, v in offered_forms(page.text).items() if a in WEIGHTS}
                if offered:
                    break
                idle[0] += 1
                time.sleep(0.05)
            else:
                continue
            action = weighted(rng, sorted(offered), WEIGHTS)
            badge = _STATE_BADGE.search(page.text)
            data = {
                "csrf_token": csrf_of(page.text),
                "action": action.value,
                "version": str(offered[action]),
                ("reason" if action in NEEDS_REASON else "note"): tag,
            }
            response = client.post(f"/assignments/{ids[code]}/act", data=data)
            if response.status_code == 303:
                outcome = "ok"
            elif response.status_code == 409 and CONFLICT_TEXT in response.text:
                outcome = "conflict"
            elif response.status_code == 400 and STATE_TEXT in response.text:
                outcome = "state"
            else:
                outcome = "odd"
            done.append(
                Attempt(
                    f"web{number}",
                    "web",
                    code,
                    action,
                    tag,
                    outcome,
                    shown_state=badge.group(1) if badge else None,
                    detail=f"{response.status_code} {response.text[:300]}",
                )
            )
    return done


def cli_client(
    number: int,
    env: dict[str, str],
    targets: list[str],
    attempts: int,
    barrier: threading.Barrier,
) -> list[Attempt]:
    """Someone at a terminal: `giaoviec submit|return|confirm|start CODE`, one after another."""
    rng = random.Random(1000 + number)
    done: list[Attempt] = []
    barrier.wait()
    for n in range(attempts):
        tag = f"[c{number}-{n}]"
        code = rng.choice(HOT) if rng.random() < 0.7 else rng.choice(targets)
        action = weighted(rng, sorted(CLI_WEIGHTS), CLI_WEIGHTS)
        text = ["--reason" if action in NEEDS_REASON else "--note", tag]
        result = subprocess.run(
            [sys.executable, "-m", "cli", action.value, code, "--by", f"CLI {number}", *text],
            env={**env, "GIAOVIEC_TODAY": TODAY.isoformat()},
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if result.returncode == 0 and code in result.stdout:
            outcome = "ok"
        elif result.returncode == 2 and CONFLICT_TEXT in result.stderr:
            outcome = "conflict"
        elif result.returncode == 2 and STATE_TEXT in result.stderr:
            outcome = "state"
        else:
            outcome = "odd"
        detail = f"rc={result.returncode} {result.stdout[-300:]} {result.stderr[-1500:]}"
        done.append(Attempt(f"cli{number}", "cli", code, action, tag, outcome, detail=detail))
    return done


def add_cli_account(env: dict[str, str]) -> None:
    username, name = CLI_ACCOUNT
    argv = ["user", "add", username, "--role", "coordinator", "--name", name]
    result = subprocess.run(
        [sys.executable, "-m", "cli", *argv],
        env=env,
        cwd=REPO,
        input=PASSWORD + "\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr


def test_web_and_cli_clients_racing_lose_no_update(
    clean_engine: Engine, home: Path, database_url: str, scale: Scale
) -> None:
    ids = setup_plan(clean_engine)
    env = child_env(home, database_url)
    add_cli_account(env)
    by_unit = units_of(clean_engine)
    with Session(clean_engine) as session:
        baseline = session.exec(select(func.max(Activity.id))).one() or 0
    usernames = [*ACCOUNTS, CLI_ACCOUNT[0]]
    others = [c for c in ids if c not in HOT]

    def targets_of(username: str) -> list[str]:
        """The "different" assignments of a client: its unit's own, or any for coordinators."""
        unit = ACCOUNTS[username][1] if username in ACCOUNTS else None
        if unit is None:
            return others
        return [c for c in by_unit[unit] if c not in HOT] or list(HOT)

    started: list[float] = []
    idle = [[0] for _ in range(scale.web_clients)]  # one counter per client: no shared writes
    parties = scale.web_clients + scale.cli_clients
    # Everyone logs in first, then all act from the same instant.
    barrier = threading.Barrier(
        parties, action=lambda: started.append(time.monotonic()), timeout=600
    )
    log = home / "web.log"
    with web_server(env, log) as base, ThreadPoolExecutor(max_workers=parties) as pool:
        futures = [
            pool.submit(
                web_client,
                i,
                base,
                usernames[i % len(usernames)],
                targets_of(usernames[i % len(usernames)]),
                ids,
                scale.web_attempts,
                barrier,
                idle[i],
            )
            for i in range(scale.web_clients)
        ]
        futures += [
            pool.submit(cli_client, j, env, others, scale.cli_attempts, barrier)
            for j in range(scale.cli_clients)
        ]
        wait(futures)
        elapsed = time.monotonic() - (started[0] if started else 0)
    server_log = log.read_text("utf-8")
    errors = [e for e in (f.exception() for f in futures) if e is not None]
    if errors:
        # The first real failure, not the broken barrier it caused in the other clients.
        cause = next((e for e in errors if not isinstance(e, threading.BrokenBarrierError)), None)
        trouble = [line for line in server_log.splitlines() if "Error" in line or " 500 " in line]
        pytest.fail(
            f"{len(errors)} clients failed: {cause or errors[0]!r}\n" + "\n".join(trouble[:20])
        )
    attempts = [a for f in futures for a in f.result()]

    outcomes = Counter(a.outcome for a in attempts)
    via = Counter(a.via for a in attempts)
    rate = len(attempts) / elapsed
    print(
        f"\nclients: {scale.web_clients} web + {scale.cli_clients} cli; "
        f"actions attempted: {len(attempts)} (web {via['web']}, cli {via['cli']}); "
        f"succeeded: {outcomes['ok']}; refused as conflicts: {outcomes['conflict']}; "
        f"refused by state: {outcomes['state']}; odd: {outcomes['odd']}; "
        f"pages with nothing to do: {sum(n for [n] in idle)}; "
        f"{elapsed:.1f} s, {rate:.1f} actions/s"
    )

    # Every answer was a success or a clear refusal: no 500, no traceback, nothing else.
    odd = [a for a in attempts if a.outcome == "odd"]
    assert not odd, odd[:5]
    assert "Traceback" not in server_log, server_log[-5000:]
    assert not re.search(r'HTTP/1\.1" 5\d\d', server_log), server_log[-5000:]
    # The scene really raced: some posts lost to another writer.
    assert outcomes["conflict"] > 0, outcomes
    # Busy enough to mean something: on average each web client posted at least once (the
    # plan has only 20 assignments, so under --soak most are done long before the end).
    assert len(attempts) >= scale.web_clients, len(attempts)

    with Session(clean_engine) as session:
        activities = list(session.exec(select(Activity).order_by(col(Activity.id))))
        rows = {a.id: a for a in session.exec(select(Assignment))}
        event_outbox = session.exec(
            select(OutboxMessage.activity_id).where(col(OutboxMessage.activity_id).is_not(None))
        ).all()

    # Each success is in the history exactly once, as the action it was, on its assignment;
    # each refusal left nothing; and nothing else happened meanwhile.
    acted = [a for a in activities if (a.id or 0) > baseline and a.action in LIFECYCLE]
    by_note: dict[str | None, list[Activity]] = {}
    for activity in acted:
        by_note.setdefault(activity.note, []).append(activity)
    for attempt in attempts:
        found = by_note.get(attempt.tag, [])
        if attempt.outcome == "ok":
            assert len(found) == 1, (attempt, found)
            [activity] = found
            assert activity.action == attempt.action.value, (attempt, activity)
            assert activity.assignment_id == ids[attempt.code], (attempt, activity)
        else:
            assert found == [], (attempt, found)
    assert len(acted) == outcomes["ok"], "an action was recorded that no client was told of"
    # A web post wins only against the state its page showed (the version it carried).
    for attempt in attempts:
        if attempt.via == "web" and attempt.outcome == "ok":
            [activity] = by_note[attempt.tag]
            assert activity.from_value is not None
            assert state_label(AssignmentState(activity.from_value)) == attempt.shown_state

    # The store's version rule: 1 when created, +1 per recomputed due date, +1 per action.
    for assignment_id, row in rows.items():
        own = [a for a in activities if a.assignment_id == assignment_id]
        bumps = sum(a.action in LIFECYCLE or a.action == "due_recomputed" for a in own)
        assert row.version == 1 + bumps, (row.code, row.version, bumps)
        # Replaying the history through the state machine reaches the stored state.
        state = AssignmentState.NOT_STARTED
        for activity in own:
            if activity.action in LIFECYCLE and activity.field == "state":
                assert activity.from_value == state.value, (row.code, activity)
                state = next_state(state, Action(activity.action))
                assert activity.to_value == state.value, (row.code, activity)
        assert state is row.state, (row.code, state, row.state)
    hot_moves = Counter(a.assignment_id for a in acted if a.assignment_id in {ids[c] for c in HOT})
    assert all(hot_moves[ids[c]] >= 2 for c in HOT), hot_moves

    # The messages an action causes exist exactly for the actions that happened.
    succeeded = {a.id for a in acted}
    assert set(event_outbox) <= succeeded
    print(
        f"final states: {dict(Counter(r.state.value for r in rows.values()))}; "
        f"event messages enqueued: {len(event_outbox)}"
    )


# --- the workers' scene ------------------------------------------------------------------


def busy_outbox(engine: Engine, scale: Scale) -> int:
    """The live plan with more staff per unit and the reminders of many days: a full outbox."""
    with db.session_scope(engine) as session:
        store.load_plan(session, read_plan_file(BUILTIN_PLAN), "kiem-thu")
        store.set_event_date(session, ANG, EVENT, "kiem-thu")
        units = [d.code for d in session.exec(select(Department))]
        for unit in units:
            for k in range(scale.extra_staff):
                email = f"cb{k}.{unit.lower()}@example.gov.vn"
                store.set_contact(session, unit, f"Cán bộ {k} {unit}", {"email": email}, "x")
        store.activate_plan(session, ANG, "kiem-thu", dt.date(2024, 2, 1))
        calendar = store.load_calendar(session)
        day = scale.first_day
        while day <= EVENT:
            reminders.enqueue_daily(session, day, clock.now_for(day), calendar, get_settings())
            day += dt.timedelta(days=1)
        return int(session.exec(select(func.count()).select_from(OutboxMessage)).one())


_SENT = re.compile(r"Đã gửi: (\d+)")


def test_delivery_workers_send_each_message_once(
    clean_engine: Engine, home: Path, database_url: str, scale: Scale
) -> None:
    total = busy_outbox(clean_engine, scale)
    assert total >= 200, total  # "a few hundred": enough for the workers to overlap
    with SmtpTestServer() as smtp:
        env = child_env(home, database_url, **smtp.env())
        logs = [home / f"worker-{n}.log" for n in range(scale.workers)]
        workers: list[subprocess.Popen[bytes]] = []
        began = time.monotonic()
        for path in logs:
            with path.open("wb") as sink:
                workers.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "cli", "deliver"],
                        env=env,
                        cwd=REPO,
                        stdout=sink,
                        stderr=subprocess.STDOUT,
                    )
                )
        codes = [w.wait(timeout=600) for w in workers]
        elapsed = time.monotonic() - began
        received = smtp.messages
    outputs = [p.read_text("utf-8") for p in logs]
    assert codes == [0] * scale.workers, outputs
    assert not any("Traceback" in o for o in outputs), outputs
    per_worker = [sum(int(n) for n in _SENT.findall(o)) for o in outputs]

    with Session(clean_engine) as session:
        rows = list(session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id))))
        calendar = store.load_calendar(session)
        expected = Counter(
            (store.outbox_view(session, r)["address"], compose(session, r, calendar).subject)
            for r in rows
        )
        notes = session.exec(
            select(Activity.action, Activity.to_value).where(
                col(Activity.action).startswith("message_")
            )
        ).all()
    got = Counter((m.rcpt_tos[0], str(m.message["Subject"])) for m in received)
    duplicates = len(received) - len(rows)
    print(
        f"\nmessages: {len(rows)}; workers: {scale.workers} (sent {per_worker}); "
        f"received at SMTP: {len(received)}; duplicates: {duplicates}; "
        f"{elapsed:.1f} s, {len(received) / elapsed:.1f} messages/s"
    )

    assert len(rows) == total
    assert {r.status for r in rows} == {DeliveryStatus.SENT}
    assert all(len(m.rcpt_tos) == 1 for m in received)
    assert got == expected  # every message arrived, each exactly once
    assert duplicates == 0
    assert sum(per_worker) == total  # the workers' own counts agree: none sent a row twice
    # Both (all) workers took part: the claims really competed.
    assert sum(n > 0 for n in per_worker) >= 2, per_worker
    # One `message_sent` activity per row, and no other outcome.
    assert Counter(action for action, _ in notes) == Counter({"message_sent": total})
    assert Counter(to for _, to in notes) == Counter(str(r.id) for r in rows)
