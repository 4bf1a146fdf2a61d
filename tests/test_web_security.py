"""The web's defences, over HTTP: signed links, roles, CSRF, escaping, upload limits."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from models.enums import AssignmentState
from models.tables import Activity, Assignment, Contact
from models.web_tables import UsedLink
from tests.browser import SECRET, TODAY, csrf_of, http_client, login, web_world
from tracking import clock, links
from tracking.settings import get_settings
from tracking.status import Action
from web.app import create_app


@pytest.fixture
def world(clean_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    with web_world(clean_engine, monkeypatch) as engine:
        yield engine


@pytest.fixture
def client(world: Engine) -> Any:
    return http_client(create_app(world, today=lambda: TODAY))


def row(engine: Engine, code: str) -> Assignment:
    with Session(engine) as session:
        found = session.exec(select(Assignment).where(Assignment.code == code)).one()
        session.expunge(found)
        return found


def contact_id(engine: Engine, name: str) -> int:
    with Session(engine) as session:
        contact = session.exec(select(Contact).where(Contact.name == name)).one()
        assert contact.id is not None
        return contact.id


def activity_count(engine: Engine) -> int:
    with Session(engine) as session:
        return session.exec(select(func.count()).select_from(Activity)).one()


def used_count(engine: Engine) -> int:
    with Session(engine) as session:
        return session.exec(select(func.count()).select_from(UsedLink)).one()


def link_path(
    engine: Engine,
    code: str,
    contact: str,
    action: Action,
    now: dt.datetime | None = None,
) -> str:
    """The path of a fresh signed link (base URL stripped)."""
    target = row(engine, code)
    assert target.id is not None
    [(_, url)] = links.action_links(
        target.id,
        contact_id(engine, contact),
        [action],
        "http://testserver",
        now or clock.now_utc(),
    )
    return url.removeprefix("http://testserver")


# --- signed links -----------------------------------------------------------------------


def test_a_link_does_its_action_once_and_only_on_post(world: Engine, client: Any) -> None:
    path = link_path(world, "TC-01", "Bùi Thị K", Action.SUBMIT)
    before = activity_count(world)
    page = client.get(path)
    assert page.status_code == 200
    assert "Báo cáo hoàn thành" in page.text and "Thẩm định kinh phí" in page.text
    client.get(path)  # opening it again (a mail scanner, a preview) changes nothing
    assert row(world, "TC-01").state is AssignmentState.NOT_STARTED
    assert activity_count(world) == before and used_count(world) == 0

    done = client.post(path, data={"csrf_token": csrf_of(page.text), "note": "Đã thẩm định"})
    assert done.status_code == 200, done.text
    assert "Đã ghi nhận" in done.text
    after = row(world, "TC-01")
    assert after.state is AssignmentState.SUBMITTED
    assert after.submitted_by == "Bùi Thị K (Sở Tài chính, qua liên kết)"
    assert after.submission_note == "Đã thẩm định"
    assert used_count(world) == 1

    # Used: a second POST (the back button, a double click) and a new GET change nothing and
    # say what the link did.
    again = client.post(path, data={"csrf_token": csrf_of(page.text), "note": "lần hai"})
    assert again.status_code == 410
    assert "đã được sử dụng: đã báo cáo hoàn thành nhiệm vụ TC-01 lúc" in again.text
    assert row(world, "TC-01").version == after.version
    assert client.get(path).status_code == 410


def test_a_tampered_link_is_refused(world: Engine, client: Any) -> None:
    path = link_path(world, "TC-01", "Bùi Thị K", Action.SUBMIT)
    token = path.removeprefix("/l/")
    # Change one character of the signed payload, and sign one with another secret.
    flipped = ("A" if token[3] != "A" else "B").join((token[:3], token[4:]))
    target = row(world, "TC-01")
    assert target.id is not None
    claim = links.LinkClaim(
        target.id,
        contact_id(world, "Bùi Thị K"),
        Action.SUBMIT,
        clock.now_utc() + dt.timedelta(days=1),
        "n",
    )
    forged = links.make_token(claim, "x" * 48)
    token_page = client.get(path)
    for bad in (flipped, forged, token + "x", "rác"):
        page = client.get(f"/l/{bad}")
        assert page.status_code == 400, bad
        assert "Liên kết không hợp lệ" in page.text
        posted = client.post(f"/l/{bad}", data={"csrf_token": csrf_of(token_page.text)})
        assert posted.status_code == 400
    assert row(world, "TC-01").state is AssignmentState.NOT_STARTED
    assert used_count(world) == 0


def test_an_expired_link_is_refused(world: Engine, client: Any) -> None:
    long_ago = clock.now_utc() - dt.timedelta(days=15)  # links last 14 days
    path = link_path(world, "TC-01", "Bùi Thị K", Action.SUBMIT, now=long_ago)
    page = client.get(path)
    assert page.status_code == 410 and "hết hạn" in page.text
    fresh = client.get(link_path(world, "TC-01", "Bùi Thị K", Action.SUBMIT))
    posted = client.post(path, data={"csrf_token": csrf_of(fresh.text)})
    assert posted.status_code == 410
    assert row(world, "TC-01").state is AssignmentState.NOT_STARTED


def test_a_link_grants_only_what_its_contact_may_do(world: Engine, client: Any) -> None:
    # A unit officer's link cannot confirm, nor act on another unit's assignment.
    for code, action in (("TC-01", Action.CONFIRM), ("VP-01", Action.SUBMIT)):
        page = client.get(link_path(world, code, "Bùi Thị K", action))
        assert page.status_code == 403, code
        assert "không còn được giao" in page.text
    # The coordinator's contact may confirm.
    assert client.get(link_path(world, "TC-01", "Phạm Thị D", Action.CONFIRM)).status_code == 200


def test_a_link_in_the_wrong_state_offers_no_form(world: Engine, client: Any) -> None:
    page = client.get(link_path(world, "TC-01", "Phạm Thị D", Action.CONFIRM))
    assert "không thể xác nhận hoàn thành" in page.text
    assert 'type="submit"' not in page.text.split("<main>")[1]


# --- roles ------------------------------------------------------------------------------


def act(client: Any, code_id: int, action: str, **fields: Any) -> Any:
    page = client.get(f"/assignments/{code_id}")
    data = {"csrf_token": csrf_of(page.text), "action": action, **fields}
    return client.post(f"/assignments/{code_id}/act", data=data, follow_redirects=False)


def test_a_department_acts_only_on_its_own_units_assignments(world: Engine, client: Any) -> None:
    login(client, "stc")
    other, own = row(world, "VP-01"), row(world, "TC-01")
    assert other.id is not None and own.id is not None
    refused = act(client, other.id, "submit", note="không phải việc của Sở Tài chính")
    assert refused.status_code == 403
    assert "không được báo cáo hoàn thành" in refused.text
    assert row(world, "VP-01").state is AssignmentState.NOT_STARTED
    # It cannot confirm its own work either: that is the coordinator's.
    assert act(client, own.id, "start").status_code == 303
    assert act(client, own.id, "submit", note="xong").status_code == 303
    assert act(client, own.id, "confirm").status_code == 403
    assert row(world, "TC-01").state is AssignmentState.SUBMITTED


def test_a_cooperating_unit_sees_but_cannot_act(world: Engine, client: Any) -> None:
    login(client, "stc")  # STC cooperates on SNV-09
    coop = row(world, "SNV-09")
    assert coop.id is not None
    page = client.get(f"/assignments/{coop.id}")
    assert page.status_code == 200 and "Sở Tài chính" in page.text
    assert f"/assignments/{coop.id}/act" not in page.text
    assert act(client, coop.id, "start").status_code == 403


def test_a_viewer_reads_everything_and_changes_nothing(world: Engine, client: Any) -> None:
    login(client, "lanhdao")
    target = row(world, "TC-01")
    assert target.id is not None
    assert client.get("/").status_code == 200
    page = client.get(f"/assignments/{target.id}")
    assert "Tài khoản chỉ xem" in page.text
    for action in ("start", "submit", "confirm", "cancel"):
        assert act(client, target.id, action, reason="x").status_code == 403
    assert row(world, "TC-01").version == target.version


def test_pages_need_a_login(client: Any) -> None:
    response = client.get("/assignments?unit=STC", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/assignments%3Funit%3DSTC"


# --- CSRF -------------------------------------------------------------------------------


def test_every_post_route_refuses_a_form_without_its_csrf_token(world: Engine) -> None:
    app = create_app(world, today=lambda: TODAY)
    client = http_client(app)
    login(client, "tdkt")
    target = row(world, "TC-01")
    link = link_path(world, "TC-01", "Bùi Thị K", Action.SUBMIT)
    paths = {
        "/login": {"username": "tdkt", "password": "x"},
        "/logout": {},
        f"/assignments/{target.id}/act": {"action": "start"},
        link: {"note": "x"},
    }
    from web import actions, auth, linkpages, pages

    posts = {
        route.path
        for module in (actions, auth, linkpages, pages)
        for route in module.router.routes
        if "POST" in getattr(route, "methods", ())
    }
    assert posts == {"/login", "/logout", "/assignments/{assignment_id}/act", "/l/{token}"}
    for path, data in paths.items():
        for token in (None, "sai-token"):
            fields = data if token is None else {**data, "csrf_token": token}
            response = client.post(path, data=fields, follow_redirects=False)
            assert response.status_code == 403, (path, token)
            assert "Biểu mẫu đã hết hạn" in response.text
    assert row(world, "TC-01").version == target.version
    assert used_count(world) == 0
    assert client.get("/", follow_redirects=False).status_code == 200  # still signed in


def test_session_cookie_flags(world: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    client = http_client(create_app(world, today=lambda: TODAY))
    page = client.get("/login")
    cookie = page.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie
    assert page.headers["content-security-policy"].startswith("default-src 'none'")
    monkeypatch.setenv("GIAOVIEC_PUBLIC_URL", "https://giaoviec.example.gov.vn")
    secure = http_client(create_app(world, today=lambda: TODAY))
    assert "; secure" in secure.get("/login").headers["set-cookie"].lower()


def test_login_refuses_a_wrong_password_and_foreign_redirects(client: Any) -> None:
    token = csrf_of(client.get("/login").text)
    wrong = client.post("/login", data={"csrf_token": token, "username": "tdkt", "password": "sai"})
    assert wrong.status_code == 400 and "không đúng" in wrong.text
    ok = client.post(
        "/login",
        data={
            "csrf_token": token,
            "username": "TDKT",
            "password": "mat-khau-thu-nghiem",
            "next": "//evil.example/",
        },
        follow_redirects=False,
    )
    assert ok.status_code == 303 and ok.headers["location"] == "/"


def test_a_new_password_ends_old_sessions(world: Engine, client: Any) -> None:
    from tracking import accounts, db

    login(client, "stc")
    assert client.get("/", follow_redirects=False).status_code == 200
    with db.session_scope(world) as session:
        accounts.set_password(session, "stc", "mat-khau-moi-123")
    assert client.get("/", follow_redirects=False).status_code == 303


# --- escaping ---------------------------------------------------------------------------

SCRIPT = "<script>alert(1)</script>"


def test_html_in_notes_and_file_names_is_escaped(world: Engine, client: Any) -> None:
    login(client, "stc")
    target = row(world, "TC-01")
    assert target.id is not None
    page = client.get(f"/assignments/{target.id}")
    files = {"files": ('<img src=x onerror="alert(2)">.pdf', b"%PDF-1.4 ok", "application/pdf")}
    data = {"csrf_token": csrf_of(page.text), "action": "submit", "note": SCRIPT}
    assert client.post(f"/assignments/{target.id}/act", data=data, files=files).status_code == 200
    shown = client.get(f"/assignments/{target.id}").text
    assert SCRIPT not in shown and "&lt;script&gt;alert(1)&lt;/script&gt;" in shown
    assert "<img src=x" not in shown
    assert "onerror" in shown  # the name is there, made harmless

    # A refused file's name comes back in the error message: escaped too.
    other = row(world, "TC-02")
    assert other.id is not None
    data = {"csrf_token": csrf_of(shown), "action": "submit"}
    bad = {"files": ("<b onmouseover=alert(3)>.exe", b"MZ", "application/octet-stream")}
    refused = client.post(f"/assignments/{other.id}/act", data=data, files=bad)
    assert refused.status_code == 400
    assert "&lt;b onmouseover=alert(3)&gt;.exe" in refused.text
    assert "<b onmouseover" not in refused.text


# --- uploads ----------------------------------------------------------------------------


@pytest.fixture
def small_limit(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("GIAOVIEC_MAX_EVIDENCE_BYTES", "1000")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def evidence_files(home: Path) -> list[Path]:
    return [p for p in (home / "evidence").rglob("*") if p.is_file()]


def test_oversized_or_disallowed_uploads_are_refused_and_nothing_is_stored(
    world: Engine, small_limit: None, home: Path
) -> None:
    client = http_client(create_app(world, today=lambda: TODAY))
    login(client, "stc")
    target = row(world, "TC-01")
    assert target.id is not None
    url = f"/assignments/{target.id}/act"
    token = csrf_of(client.get(f"/assignments/{target.id}").text)
    data = {"csrf_token": token, "action": "submit", "note": "kèm minh chứng"}
    cases = [
        ([("files", ("bao-cao.pdf", b"x" * 1500, "application/pdf"))], "quá lớn"),
        ([("files", ("chay-thu.exe", b"MZ", "application/octet-stream"))], "không được nhận"),
        (
            # One good file with a bad one: the good one is not kept either.
            [
                ("files", ("tot.pdf", b"%PDF", "application/pdf")),
                ("files", ("xau.html", b"<html>", "text/html")),
            ],
            "không được nhận",
        ),
    ]
    for files, words in cases:
        response = client.post(url, data=data, files=files)
        assert response.status_code == 400
        assert words in response.text
        assert "Không thể" not in response.text
    # A body past the whole-request limit (5 files + 1 MiB) is cut off before it is read.
    huge = client.post(
        url, data=data, files=[("files", ("lon.pdf", b"x" * (1024 * 1024 + 6000), "x/y"))]
    )
    assert huge.status_code == 413
    assert "quá lớn" in huge.text and "Không có gì được lưu" in huge.text
    assert evidence_files(home) == []
    assert row(world, "TC-01").state is AssignmentState.NOT_STARTED

    ok = client.post(
        url, data=data, files=[("files", ("bao-cao.pdf", b"%PDF-1.7" + b"x" * 900, "x/y"))]
    )
    assert ok.status_code == 200 and "Đã báo cáo hoàn thành nhiệm vụ TC-01." in ok.text
    assert [p.name for p in evidence_files(home)] == ["bao-cao.pdf"]


def test_evidence_downloads_follow_the_units(world: Engine, home: Path) -> None:
    def make() -> Any:
        return http_client(create_app(world, today=lambda: TODAY))

    unit = make()
    login(unit, "stc")
    target = row(world, "TC-01")
    assert target.id is not None
    token = csrf_of(unit.get(f"/assignments/{target.id}").text)
    files = {"files": ("Biên bản thẩm định.pdf", b"%PDF noi dung", "application/pdf")}
    unit.post(
        f"/assignments/{target.id}/act",
        data={"csrf_token": token, "action": "submit"},
        files=files,
    )
    url = f"/assignments/{target.id}/evidence/0"
    got = unit.get(url)
    assert got.status_code == 200 and got.content == b"%PDF noi dung"
    assert got.headers["content-disposition"].startswith("attachment;")
    leader, stranger = make(), make()
    login(leader, "lanhdao")
    login(stranger, "vpubnd")  # VP-UBND has no part in TC-01
    assert leader.get(url).status_code == 200
    assert stranger.get(url).status_code == 403
    assert unit.get(f"/assignments/{target.id}/evidence/7").status_code == 404


def test_a_secret_that_is_too_short_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIAOVIEC_SECRET_KEY", "ngan")
    with pytest.raises(RuntimeError, match="too short"):
        links.secret_key()
    monkeypatch.setenv("GIAOVIEC_SECRET_KEY", SECRET)
    assert links.secret_key() == SECRET
