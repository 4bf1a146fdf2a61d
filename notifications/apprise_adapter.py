"""Send one notification to one recipient through Apprise, and say what happened.

``send_one(url, ...)`` takes one Apprise URL that names exactly one recipient, so a failure
belongs to that recipient alone, and returns a :class:`DeliveryResult`: an :class:`Outcome`
and a reason without secrets.

What Apprise 1.x really does (read in its source and checked against a real SMTP server):

* ``Apprise.notify`` returns only ``True``/``False`` (``None`` when nothing matched). Plugins
  catch their own exceptions; the reason is only written to the log. The ``mailto`` plugin
  logs ``Sending email to "…" failed.`` (WARNING) for an error during the SMTP transaction
  (MAIL/RCPT/DATA) and ``Connection error while submitting email …`` for an error before it
  (connect, STARTTLS, login), each followed by a DEBUG line ``Socket Exception: <exception>``
  that carries the SMTP reply code, e.g. ``{'a@b.vn': (550, b'5.1.1 …')}``.
  So this module instantiates the plugin (``Apprise.instantiate``), gives that instance its
  own private logger at DEBUG level (``plugin.logger``: every log call of the plugin's
  ``send`` goes through it) and reads those records. Unlike ``apprise.LogCapture``, which
  hooks the process-wide ``apprise`` logger and changes its level, this sees only this send's
  records, even with many sends running in threads, and never raises the global log level.
  Afterwards the records are passed on (password redacted) to the ``apprise`` logger, at the
  levels it is enabled for, so operators see what they would have seen without the capture.
  Our own Zalo plugins put a full :class:`DeliveryResult` on the instance
  (``delivery_result``), which is used when present.
* SMTP outcomes: a 5xx reply → PERMANENT (e.g. 550 mailbox unavailable); a 4xx reply or a
  connection failure before the transaction (refused, reset, timeout at connect/greeting)
  → TRANSIENT; a timeout or lost connection during the transaction → UNKNOWN (the server may
  have accepted the message: do not blindly resend).
* Timeouts: the ``mailto`` plugin passes ``cto`` (``socket_connect_timeout``) to
  ``smtplib.SMTP(timeout=…)``, which uses it for connecting and for every reply; ``rto`` is
  not used by the mail plugin. Both are put in the URL anyway.
* Throttle: ``NotifyBase.request_rate_per_sec`` is 5.5 s; Apprise sleeps that long between two
  sends of the same plugin instance. It is set to 0 on the instance (the outbox paces sends).
  Apprise's own ``retry`` is forced to 0: a retry after an UNKNOWN outcome could duplicate.
* HTML mail: for ``body_format="html"`` the mail plugin (``notify_format`` html, its default)
  sends ``multipart/alternative`` with a ``text/plain`` part that Apprise generates itself from
  the HTML (``convert_between(HTML, TEXT)``: tags stripped, entities decoded) and the
  ``text/html`` part as given; a caller cannot supply its own text part. For
  ``body_format="text"`` Apprise would turn the text into HTML (``&nbsp;``, ``<br/>``) and send
  both; this module switches the instance to text so a text body goes out as a single
  ``text/plain`` part, exactly as given. Subject and body are UTF-8 (RFC 2047 subject,
  quoted-printable body) and arrive intact.
* Attachment names: the mail plugin writes ``Content-Disposition: attachment;
  filename="<name>"`` through ``email.header.Header``, so a non-ASCII name makes the whole
  header an RFC 2047 encoded-word, which mail clients do not read as a file name. Attachments
  are therefore copied to ASCII names in a temporary folder first ("Báo cáo tuần.xlsx" →
  "Bao-cao-tuan.xlsx"), content unchanged.
"""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote, urlencode

import apprise
from apprise import NotifyFormat

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from datetime import datetime

__all__ = [
    "BodyFormat",
    "DeliveryResult",
    "Outcome",
    "Security",
    "ascii_filename",
    "email_url",
    "send_one",
]

logger = logging.getLogger(__name__)

BodyFormat = Literal["text", "html"]
Security = Literal["none", "starttls", "ssl"]


class Outcome(StrEnum):
    """What became of one send, as the outbox needs to know it."""

    SENT = "sent"
    # Not delivered; trying again later may work.
    TRANSIENT = "transient"
    # Not delivered and never will be on this channel; fall back to another (email).
    PERMANENT = "permanent"
    # Sent, but no answer came back: it may have been delivered. Do not blindly resend.
    UNKNOWN = "unknown"
    # Deliberately not sent now (ZNS at night); send at ``not_before``.
    DEFERRED = "deferred"


@dataclass(frozen=True)
class DeliveryResult:
    """The outcome of one send and why (``detail`` never contains a secret)."""

    outcome: Outcome
    detail: str
    provider_id: str | None = None
    not_before: datetime | None = None

    @property
    def sent(self) -> bool:
        return self.outcome is Outcome.SENT


# Apprise's app_id is the mail's X-Application header and the default sender name.
_ASSET_OPTIONS: dict[str, Any] = {
    "app_id": "giaoviec",
    "app_desc": "Giao việc - theo dõi nhiệm vụ",
    # One recipient per call: no thread pool, the send runs in the caller's thread.
    "async_mode": False,
    # Mask passwords in the URLs Apprise logs.
    "secure_logging": True,
    # Nothing from a plugin's persistent storage is needed; keep it off the disk.
    "storage_mode": "memory",
    "pgp_autogen": False,
    "pem_autogen": False,
    "timezone": "Asia/Ho_Chi_Minh",
}

DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_READ_TIMEOUT = 30.0


def email_url(
    host: str,
    port: int,
    user: str | None,
    password: str | None,
    from_addr: str,
    from_name: str | None,
    security: Security,
    to_addr: str,
    *,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    read_timeout: float = DEFAULT_READ_TIMEOUT,
) -> str:
    """Build an Apprise ``mailto://``/``mailtos://`` URL for one recipient.

    ``smtp=`` is always given so Apprise does not apply its provider presets (it guesses
    servers and ports from well-known mail domains otherwise). The result contains the
    password: never log it.
    """
    if security not in ("none", "starttls", "ssl"):
        raise ValueError(f"unknown SMTP security {security!r}")
    if not 0 < port < 65536:
        raise ValueError(f"bad SMTP port {port}")
    host_part = f"[{host}]" if ":" in host else host
    auth = ""
    if user:
        auth = quote(user, safe="")
        if password:
            auth += ":" + quote(password, safe="")
        auth += "@"
    params: dict[str, str] = {"smtp": host, "from": from_addr}
    if from_name:
        params["name"] = from_name
    if security != "none":
        params["mode"] = security
    params["cto"] = f"{connect_timeout:g}"
    params["rto"] = f"{read_timeout:g}"
    scheme = "mailto" if security == "none" else "mailtos"
    target = quote(to_addr, safe="")
    return f"{scheme}://{auth}{host_part}:{port}/{target}?{urlencode(params, quote_via=quote)}"


def send_one(
    url: str,
    *,
    title: str,
    body: str,
    body_format: BodyFormat = "text",
    attachments: Sequence[Path] = (),
) -> DeliveryResult:
    """Send one message to the single recipient named by ``url``; never raises for I/O."""
    _load_own_plugins()
    asset = apprise.AppriseAsset(**_ASSET_OPTIONS)
    plugin = apprise.Apprise.instantiate(url, asset=asset)
    if plugin is None:
        return DeliveryResult(Outcome.PERMANENT, f"unusable {_scheme(url)}:// URL")
    secrets = _secrets_of(plugin)
    problem = _check_single_recipient(plugin)
    if problem:
        return DeliveryResult(Outcome.PERMANENT, problem)
    _prepare(plugin, body_format)
    capture = _RecordCollector()
    plugin.logger = capture.logger
    with tempfile.TemporaryDirectory(prefix="giaoviec-attach-") as folder:
        try:
            files = _ascii_copies(attachments, Path(folder))
        except FileNotFoundError as exc:
            return DeliveryResult(Outcome.PERMANENT, f"attachment not found: {exc.filename}")
        except OSError as exc:
            # Unreadable file or full temporary disk: nothing was sent, try again later.
            return DeliveryResult(Outcome.TRANSIENT, f"cannot prepare attachment: {exc}")
        sender = apprise.Apprise(asset=asset)
        sender.add(plugin)
        accepted = sender.notify(
            body=body,
            title=title,
            body_format=NotifyFormat(body_format),
            attach=[str(path) for path in files] or None,
        )
    capture.forward(logging.getLogger(apprise.LOGGER_NAME), secrets)
    result = _result_of(plugin, bool(accepted), capture.messages())
    result = DeliveryResult(
        result.outcome, _redact(result.detail, secrets), result.provider_id, result.not_before
    )
    logger.info("%s delivery: %s (%s)", plugin.service_name, result.outcome, result.detail)
    return result


def ascii_filename(name: str) -> str:
    """An ASCII-only file name: diacritics stripped, other characters turned into '-'."""
    text = name.replace("đ", "d").replace("Đ", "D")
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    # Not Path(): a "/" in a document number ("45/KH-UBND") is part of the name here.
    stem, dot, suffix = text.rpartition(".")
    suffix = re.sub(r"[^A-Za-z0-9]", "", suffix) if dot else ""
    if not suffix:
        stem = text
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", stem).strip("-._")
    return f"{stem or 'tep-dinh-kem'}{'.' + suffix if suffix else ''}"


def _load_own_plugins() -> None:
    # Imported here, not at module level: notifications.zalo imports this module for
    # Outcome/DeliveryResult, and importing it registers the zalooa:// and zns:// schemas.
    import notifications.zalo  # noqa: F401


def _scheme(url: str) -> str:
    return url.split("://", 1)[0][:20] if "://" in url else "?"


def _secrets_of(plugin: Any) -> list[str]:
    password = getattr(plugin, "password", None)
    if not password:
        return []
    return [str(password), quote(str(password), safe="")]


def _redact(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def _check_single_recipient(plugin: Any) -> str | None:
    plugin.retry = 0  # __len__ counts retries as extra sends
    if len(plugin) != 1:
        return f"the URL names {len(plugin)} recipients; send_one takes exactly one"
    if getattr(plugin, "cc", None) or getattr(plugin, "bcc", None):
        return "cc/bcc recipients are not allowed; send one message per recipient"
    return None


def _prepare(plugin: Any, body_format: BodyFormat) -> None:
    # Apprise retries would resend after an UNKNOWN outcome; the outbox decides retries.
    plugin.retry = 0
    # Without this Apprise waits 5.5 s before a second send through the same instance.
    plugin.request_rate_per_sec = 0
    if body_format == "text" and plugin.notify_format == NotifyFormat.HTML:
        # Keep a plain text body plain instead of an HTML rendering of it.
        plugin.notify_format = NotifyFormat.TEXT


def _ascii_copies(attachments: Sequence[Path], folder: Path) -> list[Path]:
    copies: list[Path] = []
    used: set[str] = set()
    for source in attachments:
        source = Path(source)
        if not source.is_file():
            raise FileNotFoundError(2, "not a file", source.name)
        name = _unique(ascii_filename(source.name), used)
        target = folder / name
        shutil.copyfile(source, target)
        copies.append(target)
    return copies


def _unique(name: str, used: set[str]) -> str:
    stem, dot, suffix = name.rpartition(".") if "." in name else (name, "", "")
    candidate, number = name, 2
    while candidate.lower() in used:
        candidate = f"{stem}-{number}{dot}{suffix}"
        number += 1
    used.add(candidate.lower())
    return candidate


class _RecordCollector(logging.Handler):
    """Collects the log records of one plugin instance (its private logger)."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        # Created directly, not through getLogger: no parent, so nothing propagates to the
        # application's handlers and nothing stays registered after the send.
        self.logger = logging.Logger("giaoviec.apprise-send", level=logging.DEBUG)
        self.logger.addHandler(self)

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def messages(self) -> list[str]:
        return [record.getMessage() for record in self.records]

    def forward(self, target: logging.Logger, secrets: Iterable[str]) -> None:
        """Hand the records on to Apprise's usual logger, as if captured nothing, redacted."""
        secrets = list(secrets)
        for record in self.records:
            if not target.isEnabledFor(record.levelno):
                continue
            copy = logging.makeLogRecord(record.__dict__)
            copy.name = target.name
            copy.msg = _redact(record.getMessage(), secrets)
            copy.args = None
            target.handle(copy)


def _result_of(plugin: Any, accepted: bool, messages: list[str]) -> DeliveryResult:
    rich = getattr(plugin, "delivery_result", None)
    if isinstance(rich, DeliveryResult):
        return rich
    if accepted:
        return DeliveryResult(Outcome.SENT, f"accepted by {plugin.service_name}")
    return _classify_failure(str(plugin.service_name), messages)


_SMTP_REPLY = re.compile(r"\((\d{3}), b(['\"])(.*?)\2")


def _classify_failure(service: str, messages: list[str]) -> DeliveryResult:
    """Turn what a failed Apprise plugin logged into an outcome (see module docstring)."""
    during_transaction = any(m.startswith("Sending email to") for m in messages)
    exceptions = [m.removeprefix("Socket Exception: ") for m in messages]
    exceptions = [e for e, m in zip(exceptions, messages, strict=True) if e != m]
    error = exceptions[-1] if exceptions else ""
    reply = _SMTP_REPLY.search(error)
    if reply:
        code, text = int(reply.group(1)), reply.group(3)[:200]
        outcome = Outcome.PERMANENT if code >= 500 else Outcome.TRANSIENT
        return DeliveryResult(outcome, f"SMTP {code} {text}".strip())
    if during_transaction:
        # A timeout or lost connection after MAIL/RCPT/DATA went out: the server may
        # have queued the message.
        return DeliveryResult(
            Outcome.UNKNOWN, f"SMTP transaction interrupted ({error[:200]}); may have been sent"
        )
    if error:
        return DeliveryResult(Outcome.TRANSIENT, f"could not reach the server: {error[:200]}")
    warnings = [m for m in messages if m] or ["no reason logged"]
    return DeliveryResult(Outcome.TRANSIENT, f"{service} failed: {warnings[-1][:200]}")
