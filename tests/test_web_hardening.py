"""The web under attack and under load (issue 14 items 5-8 and its low items, issue 13 item 8).

Each test replays the attack as it was reported: parallel POSTs of one link's button and
parallel sign-ins against a real uvicorn server, a copied session cookie used after sign-out,
a forwarded scheme from a proxy that is (or is not) trusted, a database locked by a long
write, a damaged database file, a full database, a signed link with absurd numbers, uploads
whose content is not what their name says.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import random
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, event, func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from models.enums import AssignmentState
from models.tables import (
    Activity,
    Assignment,
    AssignmentCooperator,
    Contact,
    Dependency,
    Plan,
)
from models.web_tables import LoginThrottle, UserRole, WebSession
from tests.browser import (
    DESKTOP,
    PASSWORD,
    PHONE,
    SECRET,
    TODAY,
    chromium,
    csrf_of,
    http_client,
    load_an_giang,
    login,
    require_chromium,
    screenshot,
    serve,
    web_world,
)
from tests.conftest import empty_tables
from tests.crash_helpers import generated_plan_yaml
from tests.plan_samples import SMALL_PLAN
from tracking import accounts, clock, db, links, store
from tracking.evidence import EvidenceError, check_evidence
from tracking.planio import check_plan_text, read_plan_file
from tracking.status import Action
from web.app import create_app

T0 = dt.datetime(2024, 3, 4, 1, 0, tzinfo=dt.UTC)  # 08:00 in Hà Nội, the morning of TODAY


class Clock:
    """A settable "now" for the app: lock-outs and session lifetimes without sleeping."""

    def __init__(self, start: dt.datetime = T0) -> None:
        self.moment = start

    def __call__(self) -> dt.datetime:
        return self.moment

    def advance(self, **delta: float) -> None:
        self.moment += dt.timedelta(**delta)


@pytest.fixture
def world(clean_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    with web_world(clean_engine, monkeypatch) as engine:
        yield engine


def app_for(engine: Engine, now: Callable[[], dt.datetime] | None = None) -> Any:
    return create_app(engine, today=lambda: TODAY, now=now or Clock())


def assignment(engine: Engine, code: str) -> Assignment:
    with Session(engine) as session:
        found = session.exec(select(Assignment).where(Assignment.code == code)).one()
        session.expunge(found)
        return found


def count(engine: Engine, table: Any) -> int:
    with Session(engine) as session:
        return session.exec(select(func.count()).select_from(table)).one()


def link_path(engine: Engine, code: str, contact: str, action: Action) -> str:
    row = assignment(engine, code)
    with Session(engine) as session:
        person = session.exec(select(Contact).where(Contact.name == contact)).one()
    assert row.id is not None and person.id is not None
    [(_, url)] = links.action_links(row.id, person.id, [action], "http://x", clock.now_utc())
    return url.removeprefix("http://x")


def form_post(client: httpx.Client, path: str, data: dict[str, str]) -> httpx.Response:
    return client.post(path, data=data, follow_redirects=False)


def in_parallel(jobs: list[Callable[[], httpx.Response]]) -> list[httpx.Response]:
    """Run the jobs in threads released at the same instant (a burst, as the attack did)."""
    start = threading.Barrier(len(jobs))
    results: list[httpx.Response | BaseException] = [RuntimeError("not run")] * len(jobs)

    def run(i: int) -> None:
        start.wait()
        try:
            results[i] = jobs[i]()
        except BaseException as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    failures = [r for r in results if isinstance(r, BaseException)]
    assert not failures, failures
    return [r for r in results if isinstance(r, httpx.Response)]


# --- 14.5: a double click on a link's button -------------------------------------------


def test_parallel_clicks_on_one_links_button_do_it_once_and_all_say_done(world: Engine) -> None:
    path = link_path(world, "TC-01", "Bùi Thị K", Action.SUBMIT)
    before = count(world, Activity)
    with serve(app_for(world, now=clock.now_utc)) as base:
        browser = httpx.Client(base_url=base)
        token = csrf_of(browser.get(path).text)
        cookies = dict(browser.cookies)
        data = {"csrf_token": token, "note": "Đã thẩm định"}

        def click() -> httpx.Response:
            with httpx.Client(base_url=base, cookies=cookies, timeout=60) as c:
                return form_post(c, path, data)

        answers = in_parallel([click] * 12)
    codes = sorted(a.status_code for a in answers)
    assert codes == [200] + [410] * 11, codes
    for answer in answers:
        if answer.status_code == 410:
            assert "đã được sử dụng: đã báo cáo hoàn thành nhiệm vụ TC-01 lúc" in answer.text
            assert "Chờ xác nhận" in answer.text  # where the work stands now
    assert assignment(world, "TC-01").state is AssignmentState.SUBMITTED
    # One submission: its own activity rows, once (not twelve times).
    with Session(world) as session:
        submits = session.exec(
            select(func.count()).select_from(Activity).where(Activity.action == "submit")
        ).one()
    assert submits == 1 and count(world, Activity) > before


# --- 14.6: sessions live on the server ---------------------------------------------------


def test_a_copied_cookie_is_worthless_after_sign_out(world: Engine) -> None:
    app = app_for(world)
    user = http_client(app)
    login(user, "tdkt")
    copied = dict(user.cookies)
    page = user.get("/assignments")
    assert page.status_code == 200
    user.post("/logout", data={"csrf_token": csrf_of(page.text)}, follow_redirects=False)
    assert count(world, WebSession) == 0

    thief = http_client(app)
    thief.cookies.update(copied)
    assert thief.get("/", follow_redirects=False).headers["location"].startswith("/login")
    target = assignment(world, "TC-01")
    acted = thief.post(
        f"/assignments/{target.id}/act",
        data={"csrf_token": csrf_of(page.text), "action": "start"},
        follow_redirects=False,
    )
    assert acted.status_code == 303 and acted.headers["location"].startswith("/login")
    assert assignment(world, "TC-01").version == target.version


def test_every_process_sees_a_sign_out(world: Engine) -> None:
    # Two web processes (two apps) on one database: signing out on one ends it on the other.
    first, second = app_for(world), app_for(world)
    a = http_client(first)
    login(a, "stc")
    b = http_client(second)
    b.cookies.update(dict(a.cookies))
    assert b.get("/").status_code == 200
    a.post("/logout", data={"csrf_token": csrf_of(a.get("/").text)}, follow_redirects=False)
    assert b.get("/", follow_redirects=False).status_code == 303


def test_a_disabled_then_enabled_account_does_not_get_its_sessions_back(world: Engine) -> None:
    client = http_client(app_for(world))
    login(client, "stc")
    with db.session_scope(world) as session:
        accounts.set_active(session, "stc", False)
    with db.session_scope(world) as session:
        accounts.set_active(session, "stc", True)
    assert client.get("/", follow_redirects=False).status_code == 303
    login(client, "stc")  # signing in again works
    assert client.get("/").status_code == 200


def test_a_session_ends_at_a_fixed_time_however_much_it_is_used(world: Engine) -> None:
    now = Clock()
    client = http_client(app_for(world, now=now))
    login(client, "tdkt")
    for _ in range(11):  # used every hour of the working day
        now.advance(hours=1)
        assert client.get("/").status_code == 200
    now.advance(minutes=59)
    assert client.get("/").status_code == 200
    now.advance(minutes=2)  # 12 h 01 min after signing in
    assert client.get("/", follow_redirects=False).headers["location"].startswith("/login")


def test_the_cookie_is_secure_over_https_also_behind_a_trusted_proxy(
    world: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    def cookie_of(response: httpx.Response) -> str:
        return str(response.headers.get("set-cookie", "")).lower()

    direct = http_client(app_for(world))
    direct.base_url = httpx.URL("https://testserver")
    assert "; secure" in cookie_of(direct.get("/login"))
    plain = http_client(app_for(world))
    assert "; secure" not in cookie_of(plain.get("/login"))

    forwarded = {"x-forwarded-proto": "https", "x-forwarded-for": "203.0.113.7"}
    with serve(app_for(world)) as base:  # the proxy on this machine: trusted by default
        assert "; secure" in cookie_of(httpx.get(f"{base}/login", headers=forwarded))
        assert "; secure" not in cookie_of(httpx.get(f"{base}/login"))
    monkeypatch.setenv("GIAOVIEC_TRUSTED_PROXIES", "10.20.30.40")
    with serve(app_for(world)) as base:  # a client claiming HTTPS is not believed
        assert "; secure" not in cookie_of(httpx.get(f"{base}/login", headers=forwarded))


# --- 14.7: sign-in throttling --------------------------------------------------------------


class HashCounter:
    """Wraps ``verify_password``: how many argon2 checks ran, per hash, and at most at once."""

    def __init__(self, real: Callable[[str, str], bool], pause: float = 0.0) -> None:
        self.real, self.pause = real, pause
        self.calls: dict[str, int] = {}
        self.running = self.peak = 0
        self.lock = threading.Lock()

    def __call__(self, password_hash: str, password: str) -> bool:
        with self.lock:
            self.calls[password_hash] = self.calls.get(password_hash, 0) + 1
            self.running += 1
            self.peak = max(self.peak, self.running)
        try:
            if self.pause:
                threading.Event().wait(self.pause)  # a slow hash, so checks overlap
            return self.real(password_hash, password)
        finally:
            with self.lock:
                self.running -= 1


def password_hash_of(engine: Engine, username: str) -> str:
    with Session(engine) as session:
        return accounts.get_user(session, username).password_hash


def sign_in_form(base: str, username: str, password: str) -> Callable[[], httpx.Response]:
    def attempt() -> httpx.Response:
        with httpx.Client(base_url=base, timeout=60) as c:
            token = csrf_of(c.get("/login").text)
            data = {"csrf_token": token, "username": username, "password": password}
            return form_post(c, "/login", data)

    return attempt


def test_forty_clients_guessing_one_password_get_five_guesses(
    world: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    counter = HashCounter(accounts.verify_password)
    monkeypatch.setattr(accounts, "verify_password", counter)
    target = password_hash_of(world, "tdkt")
    now = Clock()
    with serve(app_for(world, now=now)) as base:
        answers = in_parallel([sign_in_form(base, "tdkt", f"doan-sai-{i}") for i in range(40)])
        codes = [a.status_code for a in answers]
        # The lock is read again once a hash slot is taken: 5 checks of the real hash, plus
        # at most the one other slot's check in flight; every other guess is refused unchecked.
        assert counter.calls.get(target, 0) <= 6 and codes.count(400) <= 6
        assert codes.count(429) >= 34 and set(codes) <= {400, 429}
        locked = next(a for a in answers if a.status_code == 429)
        assert "Đăng nhập sai quá nhiều lần, hãy thử lại sau 15 phút." in locked.text
        assert int(locked.headers["retry-after"]) > 0
        # The right password does not open a locked account either.
        assert sign_in_form(base, "tdkt", PASSWORD)().status_code == 429
        now.advance(minutes=14)
        assert "thử lại sau 1 phút" in sign_in_form(base, "tdkt", PASSWORD)().text
        now.advance(minutes=1, seconds=1)
        assert sign_in_form(base, "tdkt", PASSWORD)().status_code == 303
        # A success starts the account afresh.
        with Session(world) as session:
            row = session.get(LoginThrottle, "account:tdkt")
            assert row is not None and row.failures == 0 and row.locked_until is None


def test_one_address_guessing_many_names_is_locked_out(
    world: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    counter = HashCounter(accounts.verify_password)
    monkeypatch.setattr(accounts, "verify_password", counter)
    with serve(app_for(world)) as base:
        for wave in range(3):  # 30 failures from one address, ten at a time, other names
            names = [f"khong-co-{wave}-{i}" for i in range(10)]
            answers = in_parallel([sign_in_form(base, name, "doan-sai") for name in names])
            assert [a.status_code for a in answers] == [400] * 10
        answers = in_parallel([sign_in_form(base, f"nua-{i}", "doan-sai") for i in range(10)])
        assert [a.status_code for a in answers] == [429] * 10
        assert sum(counter.calls.values()) == 30
        # A real account from the same address waits too.
        assert sign_in_form(base, "stc", PASSWORD)().status_code == 429


def test_an_office_signing_in_at_once_from_one_address_is_not_locked_out(
    world: Engine,
) -> None:
    with db.session_scope(world) as session:
        for i in range(30):
            accounts.create_user(session, f"can-bo-{i}", PASSWORD, UserRole.VIEWER)
    # 30 people with their own accounts and 10 sharing the unit's, all in the same minute.
    people = [f"can-bo-{i}" for i in range(30)] + ["stc"] * 10
    with serve(app_for(world)) as base:
        answers = in_parallel([sign_in_form(base, name, PASSWORD) for name in people])
    assert [a.status_code for a in answers] == [303] * 40


def test_failures_add_up_across_processes(world: Engine) -> None:
    first, second = http_client(app_for(world)), http_client(app_for(world))
    for client in (first, second, first, second, first):
        token = csrf_of(client.get("/login").text)
        data = {"csrf_token": token, "username": "stc", "password": "sai-mat-khau"}
        assert client.post("/login", data=data).status_code == 400
    token = csrf_of(second.get("/login").text)
    data = {"csrf_token": token, "username": "stc", "password": PASSWORD}
    assert second.post("/login", data=data).status_code == 429


def test_quiet_counters_are_swept_away(world: Engine) -> None:
    now = Clock()
    client = http_client(app_for(world, now=now))
    token = csrf_of(client.get("/login").text)
    data = {"csrf_token": token, "username": "khach-la", "password": "sai"}
    client.post("/login", data=data)
    assert count(world, LoginThrottle) == 2  # the name and the address
    now.advance(minutes=31)  # past the window and any lock it could have had
    client.post("/login", data={**data, "username": "khach-khac"})
    with Session(world) as session:
        keys = set(session.exec(select(LoginThrottle.key)))
    assert keys == {"account:khach-khac", "address:testclient"}


def test_password_checks_run_at_most_two_at_once(
    world: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    counter = HashCounter(accounts.verify_password, pause=0.05)
    monkeypatch.setattr(accounts, "verify_password", counter)
    with serve(app_for(world)) as base:
        answers = in_parallel([sign_in_form(base, f"nguoi-{i}", "x") for i in range(20)])
    assert [a.status_code for a in answers] == [400] * 20
    assert sum(counter.calls.values()) == 20 and counter.peak <= 2


def test_a_sign_in_that_waits_too_long_for_a_check_is_told_busy(
    world: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GIAOVIEC_LOGIN_QUEUE_SECONDS", "0.2")
    app = app_for(world)
    client = http_client(app)
    token = csrf_of(client.get("/login").text)
    slots = app.state.ctx.hash_slots
    for _ in range(2):  # both checks taken by other sign-ins
        assert slots.acquire(timeout=1)
    try:
        data = {"csrf_token": token, "username": "stc", "password": PASSWORD}
        busy = client.post("/login", data=data)
    finally:
        slots.release()
        slots.release()
    assert busy.status_code == 503 and busy.headers["retry-after"] == "5"
    assert "Hệ thống đang bận, hãy thử lại sau ít giây." in busy.text
    assert client.post("/login", data=data, follow_redirects=False).status_code == 303


def test_auth_events_are_logged_without_secrets(
    world: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="giaoviec.auth")
    client = http_client(app_for(world))
    for password in ["sai-1", "sai-2", "sai-3", "sai-4", "sai-5"]:
        token = csrf_of(client.get("/login").text)
        data = {"csrf_token": token, "username": "stc", "password": password}
        client.post("/login", data=data)
    token = csrf_of(client.get("/login").text)
    # A password typed into the name field is not logged.
    client.post("/login", data={"csrf_token": token, "username": "MatKhauBiMat1", "password": "x"})
    login(client, "tdkt")
    client.post("/logout", data={"csrf_token": csrf_of(client.get("/").text)})
    with db.session_scope(world) as session:
        accounts.set_password(session, "stc", "mat-khau-moi-2024")
    lines = [r.getMessage() for r in caplog.records if r.name == "giaoviec.auth"]
    joined = "\n".join(lines)
    assert joined.count("sign-in failed: account=stc address=testclient") == 5
    assert "lock-out: account=stc after repeated failures" in joined
    assert "sign-in: account=tdkt address=testclient" in joined
    assert "sign-out: account=tdkt" in joined
    assert "password reset: account=stc" in joined
    for secret in ["sai-1", "sai-5", "MatKhauBiMat1", PASSWORD, "mat-khau-moi-2024", SECRET]:
        assert secret not in joined


# --- 14.8 and the low items: a busy, damaged or full database ------------------------------


def short_wait_engine(engine: Engine) -> Engine:
    """A second engine on the same database that gives up on a lock after 0.3 s."""
    url = engine.url
    if url.get_backend_name() == "sqlite":
        return create_engine(url, connect_args={"timeout": 0.3})
    return create_engine(url, connect_args={"options": "-c lock_timeout=300"})


@contextmanager
def long_write(engine: Engine) -> Iterator[None]:
    """Another process's long write (a big plan loading) holding the lock the web needs."""
    if engine.url.get_backend_name() == "sqlite":
        holder = sqlite3.connect(str(engine.url.database), isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # SQLite's one write lock
    else:
        holder = engine.raw_connection()  # type: ignore[assignment]
        # Writes to the assignments and to the sign-in counters wait (reads do not).
        holder.cursor().execute("LOCK TABLE assignment, login_throttle IN EXCLUSIVE MODE")
    try:
        yield
    finally:
        holder.rollback()
        holder.close()


def test_a_locked_database_answers_busy_not_500(world: Engine) -> None:
    impatient = short_wait_engine(world)
    client = http_client(app_for(impatient))
    login(client, "stc")
    target = assignment(world, "TC-01")
    page = client.get(f"/assignments/{target.id}")
    data = {"csrf_token": csrf_of(page.text), "action": "start", "version": str(target.version)}
    with long_write(world):
        busy = client.post(f"/assignments/{target.id}/act", data=data)
    assert busy.status_code == 503 and busy.headers["retry-after"] == "5"
    assert "Hệ thống đang bận, hãy thử lại sau ít giây." in busy.text
    assert assignment(world, "TC-01").version == target.version
    # Once the write is over, the same form goes through.
    done = client.post(f"/assignments/{target.id}/act", data=data, follow_redirects=False)
    assert done.status_code == 303
    impatient.dispose()


def test_a_damaged_database_file_shows_the_maintenance_page(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    broken = tmp_path / "giaoviec.db"
    broken.write_bytes(b"day khong phai co so du lieu " * 400)
    engine = create_engine(f"sqlite:///{broken}")
    client = http_client(create_app(engine, today=lambda: TODAY))
    token = csrf_of(client.get("/login").text)
    data = {"csrf_token": token, "username": "tdkt", "password": PASSWORD}
    page = client.post("/login", data=data)
    assert page.status_code == 503 and page.headers["retry-after"] == "300"
    assert "Hệ thống đang bảo trì" in page.text and "Traceback" not in page.text
    assert "file is not a database" in caplog.text  # the operator's log names the cause
    engine.dispose()


def test_a_full_database_shows_the_maintenance_page(
    world: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A SQLite file of its own (also when the suite runs on PostgreSQL), compacted, then
    # served on connections that may not grow it by a single page: what a full disk looks
    # like to SQLite ("database or disk is full").
    url = f"sqlite:///{tmp_path / 'full.db'}"
    roomy = db.get_engine(url)
    db.migrate(roomy)
    load_an_giang(roomy)
    client = http_client(app_for(roomy))
    login(client, "stc")
    target = assignment(roomy, "TC-01")
    token = csrf_of(client.get(f"/assignments/{target.id}").text)
    with roomy.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        connection.exec_driver_sql("VACUUM")  # no free page left to reuse
    full = create_engine(url)

    @event.listens_for(full, "connect")
    def _no_room(connection: Any, _record: Any) -> None:
        pages = connection.execute("PRAGMA page_count").fetchone()[0]
        connection.execute(f"PRAGMA max_page_count = {pages}")

    client.app.state.ctx = dataclasses.replace(client.app.state.ctx, engine=full)
    note = "Báo cáo chi tiết kết quả thẩm định kinh phí tổ chức hội nghị. " * 60
    data = {"csrf_token": token, "action": "submit", "note": note[:3900]}
    page = client.post(f"/assignments/{target.id}/act", data=data)
    assert page.status_code == 503, page.text[:500]
    assert "Hệ thống đang bảo trì" in page.text
    assert "database or disk is full" in caplog.text
    assert assignment(roomy, "TC-01").state is AssignmentState.NOT_STARTED
    full.dispose()


def generated_plan(count: int) -> Any:
    text_ = generated_plan_yaml(random.Random(7), 8, count)
    return check_plan_text(text_.encode(), "ke-hoach-lon.yaml")


def plan_footprint(engine: Engine, code: str) -> dict[str, Any]:
    with Session(engine) as session:
        plan = session.exec(select(Plan).where(Plan.code == code)).one()
        rows = session.exec(select(Assignment).where(Assignment.plan_id == plan.id)).all()
        ids = [a.id for a in rows]
        return {
            "loading": plan.loading,
            "due": sorted((a.code, a.due) for a in rows),
            "cooperators": session.exec(
                select(func.count())
                .select_from(AssignmentCooperator)
                .where(col(AssignmentCooperator.assignment_id).in_(ids))
            ).one(),
            "dependencies": session.exec(
                select(func.count())
                .select_from(Dependency)
                .where(col(Dependency.assignment_id).in_(ids))
            ).one(),
        }


def test_a_big_plan_loads_in_batches_while_people_act_and_appears_whole(
    world: Engine,
) -> None:
    checked = generated_plan(60)
    code = checked.spec.plan.code
    impatient = short_wait_engine(world)
    client = http_client(app_for(impatient))
    login(client, "stc")
    target = assignment(world, "TC-01")
    form = csrf_of(client.get(f"/assignments/{target.id}").text)
    between: list[tuple[int, bool]] = []  # (the action's status, the plan hidden)

    with db.session_scope(world) as loading:

        @event.listens_for(loading, "after_commit")
        def _someone_acts(_session: Any) -> None:
            # Between two batches: the web writes at once (it would wait 0.3 s at most
            # here), and the half-loaded plan is nowhere to be seen.
            row = assignment(world, "TC-01")
            action = {
                AssignmentState.NOT_STARTED: "start",
                AssignmentState.IN_PROGRESS: "block",
                AssignmentState.BLOCKED: "unblock",
            }[row.state]
            data = {"csrf_token": form, "action": action, "version": str(row.version)}
            data["reason"] = "chờ số liệu"
            done = client.post(f"/assignments/{target.id}/act", data=data, follow_redirects=False)
            hidden = client.get(f"/?plan={code}").status_code == 404
            menu = client.get("/").text
            between.append((done.status_code, hidden and code not in menu))

        store.load_plan(loading, checked, "kiem-thu", commit_every=10)
    impatient.dispose()
    # Six batches of assignments, a few of links: the web acted between each.
    assert len(between) >= 8, between
    assert all(status == 303 for status, _ in between), between
    # Hidden after every commit but the last, which shows it whole.
    assert [hidden for _, hidden in between] == [True] * (len(between) - 1) + [False]
    whole = plan_footprint(world, code)
    assert whole["loading"] is False and len(whole["due"]) == 60
    assert client.get(f"/?plan={code}").status_code == 200


def test_a_batched_load_killed_half_way_is_invisible_and_the_next_load_completes_it(
    world: Engine, clean_engine: Engine
) -> None:
    checked = generated_plan(60)
    code = checked.spec.plan.code
    with db.session_scope(world) as session:  # loaded in one go: what a load must leave
        store.load_plan(session, checked, "kiem-thu")
    expected = plan_footprint(world, code)
    empty_tables(clean_engine)

    class Killed(Exception):
        pass

    commits = 0
    with pytest.raises(Killed), db.session_scope(world) as session:

        @event.listens_for(session, "before_commit")
        def _kill(_session: Any) -> None:
            nonlocal commits  # the fourth commit never happens: the process died before
            commits += 1
            if commits == 4:
                raise Killed

        store.load_plan(session, checked, "kiem-thu", commit_every=10)
    assert plan_footprint(world, code)["loading"] is True
    with Session(world) as session:
        assert store.list_plans(session) == []
        with pytest.raises(store.NotFound, match="đang được nạp"):
            store.get_plan(session, code)
    with db.session_scope(world) as session:
        result = store.load_plan(session, checked, "kiem-thu", commit_every=10)
    assert result.created and result.assignments_added == 60
    assert plan_footprint(world, code) == expected


# --- low: a validly signed link with absurd numbers --------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        [1, 1, "submit", 10**30, "n1"],  # an expiry past year 9999
        [10**30, 1, "submit", 4_000_000_000, "n2"],  # an id no INTEGER column holds
        [1, -5, "submit", 4_000_000_000, "n3"],
    ],
)
def test_a_signed_link_with_absurd_numbers_is_a_400(world: Engine, payload: list[Any]) -> None:
    token = links._serializer(SECRET).dumps(payload)
    client = http_client(app_for(world))
    page = client.get(f"/l/{token}")
    assert page.status_code == 400 and "Liên kết không hợp lệ" in page.text
    posted = client.post(f"/l/{token}", data={"csrf_token": csrf_of(client.get("/login").text)})
    assert posted.status_code == 400


# --- 13.8: evidence sizes and content, the plan the web opens on --------------------------

MIB = 2**20


def test_sizes_are_shown_in_one_unit_and_never_round_to_the_limit() -> None:
    head = b"%PDF-1.7\n"
    with pytest.raises(EvidenceError) as refused:
        check_evidence("bao-cao.pdf", 21_000_000, 20 * MIB, head)
    assert "quá lớn (20,1 MB; tối đa 20 MB)" in str(refused.value)
    with pytest.raises(EvidenceError) as barely:
        check_evidence("bao-cao.pdf", 20 * MIB + 1, 20 * MIB, head)
    assert "quá lớn (20,1 MB; tối đa 20 MB)" in str(barely.value)
    assert check_evidence("bao-cao.pdf", 20 * MIB, 20 * MIB, head) == "bao-cao.pdf"


PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452") + b"\x00" * 32
JPEG = bytes.fromhex("ffd8ffe000104a46494600") + b"\x00" * 32
ZIP = b"PK\x03\x04" + b"\x00" * 40
OLE = bytes.fromhex("d0cf11e0a1b11ae1") + b"\x00" * 40


@pytest.mark.parametrize(
    ("name", "head", "accepted"),
    [
        ("bao-cao.pdf", b"%PDF-1.4 ...", True),
        ("bao-cao.pdf", b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 60, False),  # a program
        ("bao-cao.pdf", b"<html><script>alert(1)</script>", False),
        ("anh.jpg", JPEG, True),
        ("anh.jpg", PNG, False),
        ("anh.png", PNG, True),
        ("to-trinh.docx", ZIP, True),
        ("to-trinh.docx", b"%PDF-1.4", False),
        ("to-trinh.doc", OLE, True),
        ("bang.xlsx", ZIP, True),
        ("ghi-chu.txt", "Danh sách đề nghị khen thưởng".encode(), True),
        ("ghi-chu.txt", "Danh sách".encode("utf-16"), True),
        ("ghi-chu.txt", b"\x7fELF\x02\x01\x01" + b"\x00" * 60, False),
        ("nen.zip", ZIP, True),
    ],
)
def test_an_uploads_content_must_match_its_name(name: str, head: bytes, accepted: bool) -> None:
    if accepted:
        assert check_evidence(name, 1000, 20 * MIB, head) == name
    else:
        with pytest.raises(EvidenceError, match="không đúng loại"):
            check_evidence(name, 1000, 20 * MIB, head)


def test_a_renamed_program_is_refused_by_the_web_and_nothing_is_stored(
    world: Engine, home: Path
) -> None:
    client = http_client(app_for(world))
    login(client, "stc")
    target = assignment(world, "TC-01")
    token = csrf_of(client.get(f"/assignments/{target.id}").text)
    data = {"csrf_token": token, "action": "submit", "note": "kèm minh chứng"}
    program = b"MZ\x90\x00" + b"\x00" * 200
    files = [("files", ("Bien ban.pdf", program, "application/pdf"))]
    refused = client.post(f"/assignments/{target.id}/act", data=data, files=files)
    assert refused.status_code == 400
    assert "Nội dung tệp “Bien ban.pdf” không đúng loại .pdf" in refused.text
    assert not (home / "evidence").exists() or not any((home / "evidence").rglob("*.pdf"))
    assert "mỗi tệp không quá 20 MB" in client.get(f"/assignments/{target.id}").text


def test_the_web_opens_on_the_active_plan_and_names_plans_by_title(
    world: Engine, tmp_path: Path
) -> None:
    with db.session_scope(world) as session:
        store.activate_plan(session, "an-giang-2024-hoi-nghi-thi-dua", "kiem-thu", TODAY)
    draft = tmp_path / "nhap.yaml"
    draft.write_text(SMALL_PLAN, encoding="utf-8")
    with db.session_scope(world) as session:  # loaded after: the newest, still a draft
        store.load_plan(session, read_plan_file(draft), "kiem-thu")
    client = http_client(app_for(world))
    login(client, "tdkt")
    page = client.get("/").text
    assert 'value="an-giang-2024-hoi-nghi-thi-dua" selected' in page
    assert "Kế hoạch thử nghiệm (chưa kích hoạt) · thu-nghiem</option>" in page
    assert "thu-nghiem" in client.get("/?plan=thu-nghiem").text


# --- the pages as people see them (Chromium) -----------------------------------------------


def test_the_changed_pages_in_a_browser(world: Engine, tmp_path: Path) -> None:
    require_chromium()
    with db.session_scope(world) as session:
        store.activate_plan(session, "an-giang-2024-hoi-nghi-thi-dua", "kiem-thu", TODAY)
    draft = tmp_path / "nhap.yaml"
    draft.write_text(SMALL_PLAN, encoding="utf-8")
    with db.session_scope(world) as session:
        store.load_plan(session, read_plan_file(draft), "kiem-thu")
    path = link_path(world, "TC-01", "Bùi Thị K", Action.SUBMIT)
    program = tmp_path / "Bien ban tham dinh.pdf"
    program.write_bytes(b"MZ\x90\x00" + b"\x00" * 400)
    impatient = short_wait_engine(world)
    broken_file = tmp_path / "hong.db"
    broken_file.write_bytes(b"day khong phai co so du lieu " * 400)
    broken = create_engine(f"sqlite:///{broken_file}")
    with (
        serve(app_for(world, now=clock.now_utc)) as base,
        serve(app_for(impatient)) as busy_base,
        serve(create_app(broken, today=lambda: TODAY)) as broken_base,
        chromium() as browser,
    ):
        # A double click on a link's button: the page left on screen says it is done.
        phone = browser.new_context(viewport=PHONE).new_page()
        phone.goto(base + path)
        phone.fill("textarea[name=note]", "Đã thẩm định")
        phone.dblclick("button.primary")
        phone.wait_for_selector("h1.t-green-text")
        text_shown = phone.locator("main").inner_text()
        assert (
            "Đã báo cáo hoàn thành nhiệm vụ TC-01" in text_shown or "đã được sử dụng" in text_shown
        )
        screenshot(phone, "link-double-click-phone")
        phone.goto(base + path)  # the link opened again from the mail
        assert "Liên kết này đã được sử dụng" in phone.locator("main").inner_text()
        screenshot(phone, "link-used-phone")

        # Five wrong passwords, then the lock-out message.
        desk = browser.new_context(viewport=DESKTOP).new_page()
        for i in range(6):
            desk.goto(f"{base}/login")
            desk.fill("input[name=username]", "vpubnd")
            desk.fill("input[name=password]", f"sai-mat-khau-{i}")
            desk.click("button.primary")
            desk.wait_for_load_state()
        assert "Đăng nhập sai quá nhiều lần, hãy thử lại sau 15 phút." in desk.content()
        screenshot(desk, "login-locked-desktop")

        # The active plan opens first; the picker names plans by their titles.
        desk.goto(f"{base}/login")
        desk.fill("input[name=username]", "tdkt")
        desk.fill("input[name=password]", PASSWORD)
        desk.click("button.primary")
        desk.wait_for_url(f"{base}/")
        options = desk.locator(".plan-pick select option").all_inner_texts()
        assert "Kế hoạch thử nghiệm (chưa kích hoạt) · thu-nghiem" in options
        screenshot(desk, "overview-active-plan-desktop")

        # A program renamed .pdf is refused, and the limit reads "20 MB".
        officer = browser.new_context(viewport=DESKTOP).new_page()
        officer.goto(f"{base}/login")
        officer.fill("input[name=username]", "stc")
        officer.fill("input[name=password]", PASSWORD)
        officer.click("button.primary")
        officer.wait_for_url(f"{base}/")
        target = assignment(world, "TC-02")
        officer.goto(f"{base}/assignments/{target.id}")
        assert "mỗi tệp không quá 20 MB" in officer.locator("main").inner_text()
        submit = officer.locator("details.action:has(input[name=action][value=submit])")
        if submit.get_attribute("open") is None:
            submit.locator("summary").click()
        submit.locator("input[name=files]").set_input_files(str(program))
        submit.locator("button.primary").click()
        officer.wait_for_selector("p.error")
        assert "không đúng loại .pdf" in officer.locator("p.error").inner_text()
        screenshot(officer, "evidence-refused-desktop")

        # A database held by a long write: "busy", not an error page.
        busy = browser.new_context(viewport=PHONE).new_page()
        busy.goto(f"{busy_base}/login")
        busy.fill("input[name=username]", "tdkt")
        busy.fill("input[name=password]", PASSWORD)
        with long_write(world):
            busy.click("button.primary")
            busy.wait_for_selector("text=Hệ thống đang bận")
        screenshot(busy, "busy-phone")

        # A damaged database file: the maintenance page.
        down = browser.new_context(viewport=PHONE).new_page()
        down.goto(f"{broken_base}/login")
        down.fill("input[name=username]", "tdkt")
        down.fill("input[name=password]", PASSWORD)
        down.click("button.primary")
        down.wait_for_selector("text=Hệ thống đang bảo trì")
        screenshot(down, "maintenance-phone")
    impatient.dispose()
    broken.dispose()
