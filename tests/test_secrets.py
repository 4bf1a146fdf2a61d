"""No secret in anything giaoviec writes: logs, command output, web pages, tables, files.

Recognisable secrets are configured (the SMTP password, the Zalo app secret and tokens, the
link-signing key), then everything that produces text is driven, failures included: SMTP
down, SMTP refusing the login, Zalo HTTP errors, a Zalo token refresh, a permanent Zalo error
falling back to email, the CLI (its JSON listings and error paths), the web pages. All of it
is searched for each secret in every form it could take (URL-encoded as in an Apprise
``mailto://user:PASS@host`` URL, HTML- or JSON-escaped) and for a distinctive core of it (a
truncated secret is still a leak). Only the Zalo token store may hold the Zalo tokens.
"""

from __future__ import annotations

import base64
import datetime as dt
import email
import email.policy
import html
import json
import logging
import os
import re
import subprocess
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from models.enums import Channel, DeliveryStatus
from models.web_tables import UserRole
from notifications.delivery import deliver
from tests.browser import CHEAP_HASHER, csrf_of, http_client
from tests.conftest import BUILTIN_PLAN, REPO, TABLES
from tests.outage_servers import FlakyZalo
from tests.smtp_server import SmtpTestServer, free_port
from tests.test_delivery import ANG, DAY, LATER, all_rows
from tests.zalo_fake import OA_PATH
from tracking import accounts, clock, links, reminders, store
from tracking.planio import read_plan_file
from tracking.settings import Settings, get_settings
from tracking.status import Action
from web.app import create_app
from web.security import session_secret

SMTP_USER = "tdkt@example.gov.vn"


@dataclass(frozen=True)
class Secret:
    name: str
    value: str
    core: str  # a distinctive part: found even when the rest is cut off or re-encoded

    def forms(self) -> set[str]:
        value = self.value
        return {
            value,
            self.core,
            quote(value, safe=""),  # Apprise URLs: mailto://user:PASS@host
            quote(value),
            quote_plus(value),
            html.escape(value),
            json.dumps(value)[1:-1],
            base64.b64encode(value.encode()).decode(),  # e.g. an AUTH PLAIN line
        }


# Punctuation on purpose: it makes the URL-encoded form differ from the plain one.
SMTP_PASSWORD = Secret("SMTP password", "smtpPW-Qz7kM3pX9wL2/p@ss:w&rd?", "Qz7kM3pX9wL2")
ZALO_SECRET = Secret("Zalo app secret", "zaloAPP-Kd2m8Rt5Yh4N/s&k:", "Kd2m8Rt5Yh4N")
ZALO_ACCESS = Secret("Zalo access token", "zaloACCESS-Tn6v3Bq1Zc8J", "Tn6v3Bq1Zc8J")
ZALO_REFRESH = Secret("Zalo refresh token", "zaloREFRESH-Wp8r5Gx2Lf7D", "Wp8r5Gx2Lf7D")
LINK_SECRET = Secret(
    "link-signing key", "linkSIGN-Hv7q2Ue9Sa4M/&:+-0123456789abcdefghij", "Hv7q2Ue9Sa4M"
)
SESSION_KEY = Secret(  # derived from the link key; it signs the session cookies
    "session key", session_secret(LINK_SECRET.value), session_secret(LINK_SECRET.value)[:16]
)
CONFIGURED = (SMTP_PASSWORD, ZALO_SECRET, ZALO_ACCESS, ZALO_REFRESH, LINK_SECRET, SESSION_KEY)
ZALO_TOKENS = (ZALO_ACCESS, ZALO_REFRESH)


def found_in(content: str, secrets: Iterable[Secret]) -> list[str]:
    """The names of the secrets that appear in ``content``, in any of their forms."""
    return [s.name for s in secrets if any(form in content for form in s.forms())]


def mail_text(raw: bytes) -> str:
    """A message with every part decoded: base64 or quoted-printable would hide a secret."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    pieces = [str(message)]
    for part in message.walk():
        if not part.is_multipart():
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                pieces.append(payload.decode("utf-8", "replace"))
    pieces.extend(f"{k}: {v}" for k, v in message.items())
    return "\n".join(pieces)


def file_text(path: Path) -> str:
    raw = path.read_bytes()
    if path.suffix == ".eml":
        return mail_text(raw)
    return raw.decode("utf-8", "replace")


def table_dump(engine: Engine) -> str:
    """Every row of every table, as text (the outbox's last_error, the activity notes...)."""
    with engine.connect() as connection:
        return "\n".join(
            f"{table}: {row!r}"
            for table in TABLES
            for row in connection.execute(text(f"SELECT * FROM {table}"))
        )


def assert_clean(texts: dict[str, str], secrets: Iterable[Secret]) -> None:
    secrets = list(secrets)
    leaks = {where: found_in(content, secrets) for where, content in texts.items()}
    leaks = {where: names for where, names in leaks.items() if names}
    assert not leaks, f"secrets found: {leaks}"


# ------------------------------------------------------------------------------ the finder


def test_finder_sees_a_secret_in_every_form() -> None:
    """The search must be able to fail: each secret planted in typical places is found."""
    for secret in (*CONFIGURED, Secret("x", "a-b", "a-b")):
        url = f"mailto://{SMTP_USER}:{quote(secret.value, safe='')}@smtp.example.gov.vn:587"
        planted = {
            "plain": f"error: login {secret.value} refused",
            "apprise url": f"Loaded E-Mail URL: {url}",
            "html": f"<p>{html.escape(secret.value)}</p>",
            "json": json.dumps({"last_error": secret.value}),
            "partial": f"token=…{secret.core}…",  # the core alone is a leak
        }
        for where, content in planted.items():
            assert secret.name in found_in(content, [secret]), (secret.name, where)
    raw = EmailMessage()
    raw["Subject"] = "x"
    raw.set_content(f"mật khẩu {SMTP_PASSWORD.value}", cte="base64")
    assert "base64" in raw.as_string()  # the plain bytes do not show it…
    assert found_in(mail_text(bytes(raw)), [SMTP_PASSWORD]) == [SMTP_PASSWORD.name]  # …decoded
    assert found_in("Nhắc việc: hạn 15/03/2024 — không có gì bí mật", CONFIGURED) == []


# ------------------------------------------------------------------------------ the scenario


@pytest.fixture
def zalo() -> Iterator[FlakyZalo]:
    with FlakyZalo(
        secret_key=ZALO_SECRET.value,
        access_token=ZALO_ACCESS.value,
        refresh_token=ZALO_REFRESH.value,
    ) as fake:
        yield fake


@pytest.fixture
def secret_env(
    home: Path, monkeypatch: pytest.MonkeyPatch, database_url: str, zalo: FlakyZalo
) -> dict[str, str]:
    """The environment of an installation configured with every secret (also for the CLI)."""
    values = {
        "GIAOVIEC_SMTP_HOST": "127.0.0.1",
        "GIAOVIEC_SMTP_PORT": str(free_port()),  # set per phase
        "GIAOVIEC_SMTP_SECURITY": "none",
        "GIAOVIEC_SMTP_USER": SMTP_USER,
        "GIAOVIEC_SMTP_PASSWORD": SMTP_PASSWORD.value,
        "GIAOVIEC_ZALO_OA_ID": "4318",
        "GIAOVIEC_ZALO_APP_ID": zalo.app_id,
        "GIAOVIEC_ZALO_SECRET_KEY": ZALO_SECRET.value,
        "GIAOVIEC_ZALO_OA_BASE": zalo.base_url,
        "GIAOVIEC_ZALO_BUSINESS_BASE": zalo.base_url,
        "GIAOVIEC_ZALO_OAUTH_BASE": zalo.base_url,
        "GIAOVIEC_SECRET_KEY": LINK_SECRET.value,
        "GIAOVIEC_PUBLIC_URL": "https://giaoviec.example.gov.vn",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    return {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "GIAOVIEC_HOME": str(home),
        "GIAOVIEC_DATABASE_URL": database_url,
        **values,
    }


def cli(env: dict[str, str], *args: str, stdin: str | None = None, **extra: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "cli", *args],
        env={**env, **extra},
        cwd=REPO,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"


def settings_for(server_port: int) -> Settings:
    get_settings.cache_clear()
    return get_settings().model_copy(update={"smtp_port": server_port})


def test_no_secret_in_any_output(
    session: Session,
    clean_engine: Engine,
    home: Path,
    secret_env: dict[str, str],
    zalo: FlakyZalo,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # aiosmtpd's own log is the test SMTP server's side (it logs the AUTH exchange at DEBUG),
    # not giaoviec's; what the client side writes is what is checked. First: set_level also
    # sets the capture handler's level, which the DEBUG calls below must have the last word on.
    caplog.set_level(logging.WARNING, logger="mail.log")
    caplog.set_level(logging.DEBUG)
    for name in ("apprise", "httpx", "httpcore", "notifications", "tracking", "web"):
        caplog.set_level(logging.DEBUG, logger=name)
    outputs: dict[str, str] = {}

    store.load_plan(session, read_plan_file(BUILTIN_PLAN), "kiem-thu")
    store.set_contact(session, "VP-UBND", "Trần Thị B", {"zalo_user_id": "8001"}, "x")
    store.set_contact(session, "STC", "Bùi Thị K", {"zalo_user_id": "8003"}, "x")
    store.set_event_date(session, ANG, dt.date(2024, 3, 15), "x")
    store.activate_plan(session, ANG, "x", dt.date(2024, 2, 1))
    calendar = store.load_calendar(session)
    reminders.enqueue_daily(session, DAY, clock.now_for(DAY), calendar, get_settings())
    session.commit()
    assert {r.channel for r in all_rows(session)} == {Channel.EMAIL, Channel.ZALO}

    # The operator stores the first Zalo token pair (standard input, never an argument).
    outputs["cli zalo set-token"] = cli(
        secret_env, "zalo", "set-token", stdin=f"{ZALO_ACCESS.value}\n{ZALO_REFRESH.value}\n"
    )
    token_file = home / "zalo" / "zalo.tokens.json"
    assert ZALO_ACCESS.value in token_file.read_text("utf-8")

    # 1. SMTP down (nothing listens on the port) and Zalo answering HTTP 500: the real command.
    zalo.set_status(OA_PATH, 500)
    outputs["cli deliver, all down"] = cli(secret_env, "deliver")

    # 2. SMTP refusing the login (the server expects another password); Zalo still failing.
    with SmtpTestServer(user=SMTP_USER, password="another-password") as refusing:
        deliver(clean_engine, settings_for(refusing.port), LATER)
        assert refusing.logins and not any(ok for _, ok in refusing.logins)
    assert any("535" in (r.last_error or "") for r in all_rows(session))

    # 3. Everything healthy but the Zalo token expired (refreshed with the app secret) and
    # one Zalo user not a follower (falls back to email): the next day's sweep, then the
    # retries of day one.
    zalo.heal()
    zalo.expire_access_token()
    zalo.set_error("8003", -213)
    with SmtpTestServer(user=SMTP_USER, password=SMTP_PASSWORD.value) as smtp:
        outputs["cli sweep"] = cli(
            secret_env, "sweep", "--today", "05/03/2024", GIAOVIEC_SMTP_PORT=str(smtp.port)
        )
        zalo.expire_access_token()  # once more, so a refresh also happens in this process
        report = deliver(clean_engine, settings_for(smtp.port), LATER + dt.timedelta(hours=2))
        received = {f"received mail {i}": mail_text(m.raw) for i, m in enumerate(smtp.messages)}
        assert received and all(ok for _, ok in smtp.logins)
    assert zalo.refresh_calls == 2 and report.handled > 0
    rows = all_rows(session)
    assert any(r.fallback_of_id is not None for r in rows)
    assert any(r.channel is Channel.ZALO and r.status is DeliveryStatus.SENT for r in rows)
    new_tokens = [
        Secret("refreshed access token", str(zalo.access_token), str(zalo.access_token)),
        Secret("refreshed refresh token", zalo.refresh_token, zalo.refresh_token),
    ]
    assert str(zalo.access_token) in token_file.read_text("utf-8")

    # 4. The listings an operator reads, and error paths.
    for args in (
        ("status", "--json"),
        ("outbox", "--json"),
        ("outbox",),
        ("contacts", "list", "--json"),
        ("show", "KHONG-CO"),
        ("outbox", "--status", "khong-ro"),
    ):
        outputs["cli " + " ".join(args)] = cli(secret_env, *args)
    outputs["cli deliver, bad port setting"] = cli(
        secret_env, "deliver", GIAOVIEC_SMTP_PORT="not-a-port"
    )
    assert '"last_error"' in outputs["cli outbox --json"]
    assert "exit 2" in outputs["cli show KHONG-CO"]

    # 5. The web pages, signed in and not, a one-click link, errors.
    monkeypatch.setattr(accounts, "_hasher", lambda: CHEAP_HASHER)
    with Session(clean_engine) as web_session:
        accounts.create_user(web_session, "tdkt", "mat-khau-web", UserRole.COORDINATOR, None, "C")
        web_session.commit()
    row = next(r for r in rows if r.assignment_id is not None)
    assert row.assignment_id is not None
    [(_, link)] = links.action_links(
        row.assignment_id, row.contact_id, [Action.SUBMIT], "https://testserver", clock.now_utc()
    )
    client = http_client(create_app(clean_engine, today=lambda: DAY))
    client.base_url = "https://testserver"  # the public URL is https: cookies are Secure
    pages = ["/", "/login", link.removeprefix("https://testserver"), "/l/khong-hop-le"]
    for path in pages:
        response = client.get(path)
        outputs[f"web GET {path[:20]}"] = (
            f"{response.status_code} {response.headers}\n{response.text}"
        )
    login = client.post(
        "/login",
        data={
            "csrf_token": csrf_of(client.get("/login").text),
            "username": "tdkt",
            "password": "mat-khau-web",
            "next": "/",
        },
        follow_redirects=False,
    )
    assert login.status_code == 303
    outputs["web POST /login"] = f"{login.headers}\n{login.text}"
    for path in ("/", "/assignments", f"/assignments/{row.assignment_id}", "/assignments/999999"):
        response = client.get(path)
        outputs[f"web GET {path} signed in"] = f"{response.status_code}\n{response.text}"
    refused = client.post(f"/assignments/{row.assignment_id}/act", data={"action": "start"})
    outputs["web POST without CSRF"] = f"{refused.status_code}\n{refused.text}"
    assert "Hv7q2Ue9Sa4M" not in link and "/l/" in link

    # Everything written: logs, captured output, the database, every file under home.
    captured = capsys.readouterr()
    outputs["log records"] = caplog.text
    outputs["log messages"] = "\n".join(r.getMessage() for r in caplog.records)
    outputs["stdout/stderr"] = captured.out + captured.err
    outputs["tables"] = table_dump(clean_engine)
    outputs.update(received)
    files = [p for p in home.rglob("*") if p.is_file()]
    outputs.update({f"file {p.relative_to(home)}": file_text(p) for p in files if p != token_file})
    # The things that must have happened, so the search covered them.
    assert "could not reach the server" in outputs["tables"]  # SMTP down
    assert "SMTP 535" in outputs["tables"]  # login refused
    assert "Zalo HTTP 500" in outputs["tables"]
    assert "refreshed" in outputs["log messages"]
    # A bad setting is named, in Vietnamese, with its value but never a secret.
    assert "GIAOVIEC_SMTP_PORT" in outputs["cli deliver, bad port setting"]

    assert_clean(outputs, [*CONFIGURED, *new_tokens])
    # The token store holds the Zalo tokens, and nothing else secret.
    others = [s for s in CONFIGURED if s not in ZALO_TOKENS]
    assert_clean({"token store": token_file.read_text("utf-8")}, others)
    figures = {where: len(content) for where, content in outputs.items()}
    print(
        f"\n[secrets] searched {len(outputs)} outputs ({sum(figures.values())} characters):"
        f" {len(caplog.records)} log records, {len(files)} files, {len(received)} mails,"
        f" {sum(1 for k in outputs if k.startswith('cli'))} CLI runs,"
        f" {sum(1 for k in outputs if k.startswith('web'))} web responses; no secret found"
    )


def test_embedded_eml_files_hold_no_secret(
    session: Session, clean_engine: Engine, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No SMTP server (the embedded default) but a password and link key configured: the
    .eml files carry signed links, and neither the key nor the password."""
    monkeypatch.setenv("GIAOVIEC_SMTP_PASSWORD", SMTP_PASSWORD.value)
    monkeypatch.setenv("GIAOVIEC_SECRET_KEY", LINK_SECRET.value)
    monkeypatch.setenv("GIAOVIEC_PUBLIC_URL", "https://giaoviec.example.gov.vn")
    get_settings.cache_clear()
    store.load_plan(session, read_plan_file(BUILTIN_PLAN), "kiem-thu")
    store.set_event_date(session, ANG, dt.date(2024, 3, 15), "x")
    store.activate_plan(session, ANG, "x", dt.date(2024, 2, 1))
    calendar = store.load_calendar(session)
    reminders.enqueue_daily(session, DAY, clock.now_for(DAY), calendar, get_settings())
    session.commit()
    settings = get_settings()
    assert settings.smtp_host is None

    deliver(clean_engine, settings, LATER)

    files = sorted(settings.outbox_folder.rglob("*.*"))
    mails = [p for p in files if p.suffix == ".eml"]
    assert mails and len(mails) == len(all_rows(session))
    contents = {str(p.relative_to(home)): file_text(p) for p in files}
    linked = [c for c in contents.values() if "https://giaoviec.example.gov.vn/l/" in c]
    assert linked, "the reminders should carry signed links"
    assert_clean(contents, CONFIGURED)
    assert not re.search(r"secret_key", " ".join(p.name for p in home.rglob("*")))
    print(f"\n[secrets] {len(mails)} .eml files, {len(linked)} with signed links: no secret")
