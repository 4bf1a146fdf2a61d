"""Every email giaoviec sends, built once: the same message goes to the SMTP server and, when
no server is configured, into an ``.eml`` file.

One home for what every email shares: the sender (:func:`sender`), the SMTP URL
(:func:`smtp_url`), the message itself (:func:`build`: our own text part with its
"label: URL" lines next to the HTML, the recipient's display name in ``To:``, RFC 2047
encoded), and how it leaves (:func:`send` through Apprise, :func:`write_eml` to a private
file). Reminders (``notifications.delivery``) and the weekly report (``tasks.sending``) both
call these, so the two can never disagree about the From address again.
"""

from __future__ import annotations

import datetime as dt
import email.policy
import email.utils
import mimetypes
import re
from email.header import Header
from email.message import Message
from email.mime.application import MIMEApplication
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from typing import TYPE_CHECKING

from notifications.apprise_adapter import DeliveryResult, SmtpLink, email_url, send_mail
from tracking.private import write_private

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from notifications.templates import Attachment
    from tracking.settings import Settings

# What a mail server or client expects on the wire: CRLF line ends, lines of at most 78.
WIRE_POLICY = email.policy.compat32.clone(linesep="\r\n")
FILE_POLICY = email.policy.compat32
_DEFAULT_PORTS = {"ssl": 465, "starttls": 587}
# A domain name (not an IP address, not a single label): what an address's host part may be.
_DOMAIN = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9-]{1,63}\.)+[A-Za-z]{2,63}$")


def sender(settings: Settings) -> tuple[str, str]:
    """(display name, address) in the From of every email giaoviec sends.

    GIAOVIEC_SMTP_FROM; else the SMTP login when it is an address; else giaoviec@ the SMTP
    host when that is a domain name; else giaoviec@localhost. Never an address at an IP
    (``giaoviec@127.0.0.1``), which Apprise refuses as an unusable URL.
    """
    if settings.smtp_from:
        address = settings.smtp_from
    elif settings.smtp_user and "@" in settings.smtp_user:
        address = settings.smtp_user
    elif settings.smtp_host and _DOMAIN.match(settings.smtp_host):
        address = f"giaoviec@{settings.smtp_host.lower()}"
    else:
        address = "giaoviec@localhost"
    return settings.smtp_from_name, address


def smtp_url(settings: Settings, to_addr: str) -> str:
    """The Apprise URL that sends to ``to_addr`` through the configured server (it holds the
    password: never log it)."""
    assert settings.smtp_host, "smtp_url needs GIAOVIEC_SMTP_HOST"
    password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
    port = settings.smtp_port or _DEFAULT_PORTS.get(settings.smtp_security, 25)
    name, address = sender(settings)
    return email_url(
        settings.smtp_host,
        port,
        settings.smtp_user,
        password,
        address,
        name,
        settings.smtp_security,
        to_addr,
    )


def build(
    settings: Settings,
    *,
    subject: str,
    text: str,
    html: str,
    to_name: str,
    to_addr: str,
    tag: str,
    attachments: Sequence[Attachment] = (),
    now: dt.datetime | None = None,
) -> Message:
    """The whole message: our text part, the HTML, the attachments, every header.

    ``tag`` goes into the Message-ID (``giaoviec-<tag>``) so a message can be traced back to
    its outbox row.
    """
    name, address = sender(settings)
    # Built with the classic (compat32) classes, as Apprise does: the modern policy's folding
    # drops the space between two encoded-words of a long Vietnamese subject ("phóngsự"),
    # while Header encodes whole runs of text, spaces included.
    body: MIMEBase = MIMEMultipart("alternative")
    body.attach(MIMEText(text, "plain", "utf-8"))
    body.attach(MIMEText(html, "html", "utf-8"))
    if attachments:
        mixed = MIMEMultipart("mixed")
        mixed.attach(body)
        for item in attachments:
            part = MIMEApplication(item.data, _subtype(item.name))
            # RFC 2231 (filename*=utf-8''…): what mail clients read as a Vietnamese file name.
            part.add_header("Content-Disposition", "attachment", filename=("utf-8", "", item.name))
            mixed.attach(part)
        body = mixed
    # header_name: the first line leaves room for "Subject: " (lines of at most 78).
    body["Subject"] = Header(subject, "utf-8", header_name="Subject")  # type: ignore[assignment]
    body["From"] = _address(name, address)
    body["To"] = _address(to_name, to_addr)
    body["Date"] = email.utils.format_datetime(now or dt.datetime.now(dt.UTC))
    body["Message-ID"] = email.utils.make_msgid(
        idstring=f"giaoviec-{tag}", domain=address.rpartition("@")[2] or "localhost"
    )
    body["X-Application"] = "giaoviec"
    return body


def _subtype(name: str) -> str:
    """``application/<subtype>`` of an attachment, from its name (an .xlsx report)."""
    kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return kind.partition("/")[2] if kind.startswith("application/") else "octet-stream"


def _address(name: str, address: str) -> str:
    """``Name <address>``; a non-ASCII name as RFC 2047 encoded-words (:func:`encode_words`)."""
    if name.isascii():
        return email.utils.formataddr((name, address))
    return f"{encode_words(name)} <{address}>"


# An encoded-word is at most 75 characters: "=?utf-8?b?" + base64 + "?=" leaves 63 for the
# base64 text, i.e. 45 bytes of UTF-8.
_WORD_BYTES = 45


def encode_words(text: str) -> str:
    """``text`` as UTF-8 base64 encoded-words of at most 75 characters, each cut after a space.

    ``formataddr`` makes one word of any length; ``Header`` cuts anywhere, even inside a
    word ("ph" | "òng"), which readers that keep the space between two encoded-words (Python's
    own address parser does) show as "ph òng". Cut after a space, the text reads right in
    every client; a word longer than 45 bytes alone is cut by ``Header``.
    """
    chunks: list[str] = []
    current = ""
    for word in re.findall(r"\S+\s*|\s+", text):
        if current and len((current + word).encode("utf-8")) > _WORD_BYTES:
            chunks.append(current)
            current = ""
        current += word
    if current:
        chunks.append(current)
    return "\n ".join(
        Header(chunk, "utf-8", maxlinelen=76).encode(splitchars=" ", linesep="\n ")
        for chunk in chunks
    )


def send(mail: Message, settings: Settings, link: SmtpLink | None = None) -> DeliveryResult:
    """Send ``mail`` as it is to its one ``To`` address, through Apprise's email plugin."""
    to_addr = email.utils.parseaddr(str(mail["To"]))[1]
    return send_mail(smtp_url(settings, to_addr), mail.as_bytes(policy=WIRE_POLICY), link=link)


def write_eml(mail: Message, path: Path) -> Path:
    """The message as a file a mail client opens (0600: it holds one-click links)."""
    return write_private(path, mail.as_bytes(policy=FILE_POLICY))
