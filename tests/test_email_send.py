"""Email through Apprise's mailto plugin to a real SMTP server on loopback (no mocks)."""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import apprise
import pytest

from notifications.apprise_adapter import Outcome, ascii_filename, email_url, send_one
from tests.smtp_server import SmtpTestServer

if TYPE_CHECKING:
    from collections.abc import Iterator
    from email.message import EmailMessage
    from pathlib import Path

    from notifications.apprise_adapter import Security

SUBJECT = "Nhắc việc: Thống kê danh sách khen thưởng — hạn 15/03/2024"
HTML = (
    "<p>Kính gửi <b>Sở Văn hóa, Thể thao và Du lịch</b>,</p>\n"
    "<p>Nhắc việc: Thống kê danh sách khen thưởng — hạn 15/03/2024.</p>"
)
TEXT = (
    "Kính gửi Sở Văn hóa, Thể thao và Du lịch,\n"
    "Nhắc việc: Thống kê danh sách khen thưởng — hạn 15/03/2024."
)
SMTP_USER = "thongbao@sonv.angiang.gov.vn"
# Characters that break a URL unless quoted: @ : / # ? & % + and a space.
SMTP_PASSWORD = "Kh3n@thuong:2024/#?&%+ x"
FROM_ADDR = "thongbao@sonv.angiang.gov.vn"
FROM_NAME = "Ban Thi đua - Khen thưởng"


@pytest.fixture
def smtp() -> Iterator[SmtpTestServer]:
    with SmtpTestServer(user=SMTP_USER, password=SMTP_PASSWORD) as server:
        yield server


def url_for(smtp: SmtpTestServer, to_addr: str, *, timeout: float = 1.0) -> str:
    return email_url(
        smtp.host,
        smtp.port,
        SMTP_USER,
        SMTP_PASSWORD,
        FROM_ADDR,
        FROM_NAME,
        "none",
        to_addr,
        connect_timeout=timeout,
        read_timeout=timeout,
    )


def parts(message: EmailMessage) -> dict[str, str]:
    found: dict[str, str] = {}
    for part in message.walk():
        if part.get_content_type() in ("text/plain", "text/html"):
            found[part.get_content_type()] = str(part.get_content()).replace("\r\n", "\n")
    return found


# ---------------------------------------------------------------------- content


def test_vietnamese_html_mail_arrives_intact(smtp: SmtpTestServer) -> None:
    result = send_one(
        url_for(smtp, "vanthu@svhttdl.angiang.gov.vn"), title=SUBJECT, body=HTML, body_format="html"
    )

    assert result.outcome is Outcome.SENT, result.detail
    [received] = smtp.messages
    message = received.message
    assert message["Subject"] == SUBJECT
    assert message["From"].addresses[0].display_name == FROM_NAME
    assert message["From"].addresses[0].addr_spec == FROM_ADDR
    assert message.get_content_type() == "multipart/alternative"
    found = parts(message)
    assert found["text/html"] == HTML
    # Apprise writes the text part itself from the HTML: tags gone, words intact.
    assert "Nhắc việc: Thống kê danh sách khen thưởng — hạn 15/03/2024." in found["text/plain"]
    assert "<b>" not in found["text/plain"]
    # The URL-quoted password reached the server unchanged.
    assert smtp.logins == [(SMTP_USER, True)]


def test_text_mail_is_one_plain_part(smtp: SmtpTestServer) -> None:
    result = send_one(url_for(smtp, "vanthu@stc.angiang.gov.vn"), title=SUBJECT, body=TEXT)

    assert result.outcome is Outcome.SENT, result.detail
    [received] = smtp.messages
    assert received.message.get_content_type() == "text/plain"
    assert received.message["Subject"] == SUBJECT
    assert str(received.message.get_content()).replace("\r\n", "\n").rstrip("\n") == TEXT


def test_one_message_per_recipient(smtp: SmtpTestServer) -> None:
    recipients = [
        "vanthu@vpubnd.angiang.gov.vn",
        "vanthu@svhttdl.angiang.gov.vn",
        "toasoan@baoangiang.com.vn",
    ]

    results = [send_one(url_for(smtp, to), title=SUBJECT, body=TEXT) for to in recipients]

    assert [r.outcome for r in results] == [Outcome.SENT] * 3
    received = smtp.messages
    assert [m.rcpt_tos for m in received] == [(to,) for to in recipients]
    assert [m.message["To"] for m in received] == recipients


def test_url_with_two_recipients_is_refused(smtp: SmtpTestServer) -> None:
    url = url_for(smtp, "a@x.vn").replace("/a%40x.vn?", "/a%40x.vn/b%40x.vn?")

    result = send_one(url, title=SUBJECT, body=TEXT)

    assert result.outcome is Outcome.PERMANENT
    assert smtp.messages == []


# ---------------------------------------------------------------------- failures


def test_mailbox_unavailable_is_permanent(smtp: SmtpTestServer) -> None:
    smtp.reject("khongtontai@angiang.gov.vn")

    result = send_one(url_for(smtp, "khongtontai@angiang.gov.vn"), title=SUBJECT, body=TEXT)

    assert result.outcome is Outcome.PERMANENT
    assert "550" in result.detail
    assert smtp.messages == []


def test_the_servers_reply_is_kept_whole(smtp: SmtpTestServer) -> None:
    # The outcome is read from smtplib's error, not parsed back out of Apprise's log line: a
    # reply holding both kinds of quote used to be cut at the first one ("User\\").
    reply = '5.1.1 User\'s mailbox "vanthu" does not exist'
    smtp.reject("vanthu@stc.angiang.gov.vn", 550, reply)

    result = send_one(url_for(smtp, "vanthu@stc.angiang.gov.vn"), title=SUBJECT, body=TEXT)

    assert result.outcome is Outcome.PERMANENT
    assert result.detail == f"SMTP 550 {reply}"


def test_temporary_refusal_is_transient(smtp: SmtpTestServer) -> None:
    smtp.defer("vanthu@stc.angiang.gov.vn")

    result = send_one(url_for(smtp, "vanthu@stc.angiang.gov.vn"), title=SUBJECT, body=TEXT)

    assert result.outcome is Outcome.TRANSIENT
    assert "451" in result.detail


def test_wrong_password_is_a_setup_failure_not_the_message(smtp: SmtpTestServer) -> None:
    url = email_url(
        smtp.host,
        smtp.port,
        SMTP_USER,
        "sai-mat-khau",
        FROM_ADDR,
        None,
        "none",
        "a@x.vn",
        connect_timeout=1,
    )

    result = send_one(url, title=SUBJECT, body=TEXT)

    # The server refused our login: every message would fail alike, none is at fault.
    assert result.outcome is Outcome.TRANSIENT
    assert result.setup_failed and result.server_failed
    assert "535" in result.detail
    # smtplib tries each offered mechanism (PLAIN, then LOGIN); every attempt was refused.
    assert smtp.logins and all(login == (SMTP_USER, False) for login in smtp.logins)
    assert smtp.messages == []


def test_server_down_is_transient_then_recovers(smtp: SmtpTestServer) -> None:
    smtp.stop()

    down = send_one(url_for(smtp, "vanthu@stc.angiang.gov.vn"), title=SUBJECT, body=TEXT)
    smtp.start()
    up = send_one(url_for(smtp, "vanthu@stc.angiang.gov.vn"), title=SUBJECT, body=TEXT)

    assert down.outcome is Outcome.TRANSIENT
    assert "refused" in down.detail.lower()
    assert up.outcome is Outcome.SENT
    assert len(smtp.messages) == 1


def test_timeout_after_data_is_unknown(smtp: SmtpTestServer) -> None:
    smtp.delay_data(3.0)

    result = send_one(
        url_for(smtp, "vanthu@stc.angiang.gov.vn", timeout=0.5), title=SUBJECT, body=TEXT
    )

    assert result.outcome is Outcome.UNKNOWN
    # The server has the message: resending blindly would duplicate it.
    assert len(smtp.messages) == 1


# ---------------------------------------------------------------------- attachments


def test_attachment_gets_ascii_name_and_same_bytes(smtp: SmtpTestServer, tmp_path: Path) -> None:
    content = os.urandom(2048)
    source = tmp_path / "Báo cáo tuần.xlsx"
    source.write_bytes(content)

    result = send_one(
        url_for(smtp, "vanthu@snv.angiang.gov.vn"),
        title=SUBJECT,
        body=HTML,
        body_format="html",
        attachments=[source],
    )

    assert result.outcome is Outcome.SENT, result.detail
    [received] = smtp.messages
    attached = list(received.message.iter_attachments())
    assert [a.get_filename() for a in attached] == ["Bao-cao-tuan.xlsx"]
    assert attached[0].get_content() == content
    assert b'filename="Bao-cao-tuan.xlsx"' in received.raw
    assert source.read_bytes() == content  # the original is untouched


def test_missing_attachment_is_permanent(smtp: SmtpTestServer, tmp_path: Path) -> None:
    result = send_one(
        url_for(smtp, "vanthu@snv.angiang.gov.vn"),
        title=SUBJECT,
        body=TEXT,
        attachments=[tmp_path / "không có.pdf"],
    )

    assert result.outcome is Outcome.PERMANENT
    assert smtp.messages == []


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Báo cáo tuần.xlsx", "Bao-cao-tuan.xlsx"),
        ("Đề xuất khen thưởng (bản 2).docx", "De-xuat-khen-thuong-ban-2.docx"),
        ("Kế hoạch 45/KH-UBND.pdf", "Ke-hoach-45-KH-UBND.pdf"),
        ("ảnh", "anh"),
        ("!!!.pdf", "tep-dinh-kem.pdf"),
    ],
)
def test_ascii_filename(name: str, expected: str) -> None:
    assert ascii_filename(name) == expected


# ---------------------------------------------------------------------- URL and secrets


@pytest.mark.parametrize(
    ("security", "scheme", "mode", "port"),
    [
        ("none", "mailto", "insecure", 25),
        ("starttls", "mailtos", "starttls", 587),
        ("ssl", "mailtos", "ssl", 465),
    ],
)
def test_email_url_parameters(security: Security, scheme: str, mode: str, port: int) -> None:
    url = email_url(
        "mail.angiang.gov.vn",
        port,
        SMTP_USER,
        SMTP_PASSWORD,
        FROM_ADDR,
        FROM_NAME,
        security,
        "vanthu@stc.angiang.gov.vn",
        connect_timeout=7,
        read_timeout=9,
    )

    plugin: Any = apprise.Apprise.instantiate(url)  # NotifyEmail's attributes are untyped

    assert url.startswith(f"{scheme}://")
    assert plugin is not None
    assert plugin.password == SMTP_PASSWORD
    assert plugin.user == SMTP_USER
    assert plugin.smtp_host == "mail.angiang.gov.vn"
    assert plugin.port == port
    assert plugin.secure_mode == mode
    assert plugin.targets == [(False, "vanthu@stc.angiang.gov.vn")]
    assert plugin.from_addr[1] == FROM_ADDR
    assert plugin.socket_connect_timeout == 7.0


def test_email_url_rejects_unknown_security() -> None:
    with pytest.raises(ValueError, match="security"):
        email_url("h", 25, None, None, FROM_ADDR, None, "tls", "a@x.vn")  # type: ignore[arg-type]


def test_password_never_logged_nor_returned(
    smtp: SmtpTestServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    smtp.reject("khongtontai@angiang.gov.vn")

    results = [
        send_one(url_for(smtp, "vanthu@stc.angiang.gov.vn"), title=SUBJECT, body=TEXT),
        send_one(url_for(smtp, "khongtontai@angiang.gov.vn"), title=SUBJECT, body=TEXT),
        send_one(url_for(smtp, "a@x.vn") + "&mode=bogus", title=SUBJECT, body=TEXT),
    ]
    smtp.stop()
    results.append(send_one(url_for(smtp, "vanthu@stc.angiang.gov.vn"), title=SUBJECT, body=TEXT))

    assert [r.outcome for r in results] == [
        Outcome.SENT,
        Outcome.PERMANENT,
        Outcome.PERMANENT,
        Outcome.TRANSIENT,
    ]
    # The plugin's own records (with the SMTP reply) reach the log, and are checked too.
    assert "Sending email to" in caplog.text and "550" in caplog.text
    for secret in (SMTP_PASSWORD, quote(SMTP_PASSWORD, safe="")):
        assert secret not in caplog.text
        for result in results:
            assert secret not in repr(result)
