"""Send one notification to one recipient through Apprise, and say what happened.

``send_one(url, ...)`` takes one Apprise URL that names exactly one recipient, so a failure
belongs to that recipient alone, and returns a :class:`DeliveryResult`: an :class:`Outcome`
and a reason without secrets.

What Apprise 1.x really does (read in its source and checked against a real SMTP server):

* ``Apprise.notify`` returns only ``True``/``False`` (``None`` when nothing matched). Plugins
  catch their own exceptions; Apprise's ``mailto`` plugin only writes the reason to the log.
  So every email goes through our subclass of that plugin (:class:`_LinkedEmail`, over an
  :class:`SmtpLink`: the link given, or one of its own for this send), which keeps the smtplib
  error on the instance (``smtp_failure``: the exception and whether MAIL/RCPT/DATA had
  started); :func:`classify_smtp_failure` reads the reply code from it (a set-up failure is
  put whole on the instance as ``delivery_result``). Zalo does not go through Apprise
  (:mod:`notifications.zalo`). Only another plugin (an extra Apprise URL on a contact) is
  judged from its boolean and last log line. Each instance gets its own private logger at
  DEBUG level (``plugin.logger``), so a send's records are its own even with many sends
  running in threads, and the global log level is never raised; afterwards the records are
  passed on (password redacted) to the ``apprise`` logger, at the levels it is enabled for,
  so operators see what they would have seen without the capture.
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
  the HTML (``convert_between(HTML, TEXT)``: tags stripped, entities decoded, so a button
  becomes a bare word without its link) and the ``text/html`` part as given; a caller cannot
  supply its own text part. giaoviec's own emails therefore go through :func:`send_mail`: the
  message is built by ``notifications.mail`` (our text part, our headers) and the plugin
  subclass sends those bytes as they are, over its ``SmtpLink``.
* Set-up failures: an SMTP reply that refuses our login or configuration (530, 534, 535,
  538, a refused sender, TLS errors) is TRANSIENT with ``setup_failed``: no message is at
  fault, the operator must fix the settings (:func:`setup_failure`). For
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

import contextlib
import dataclasses
import email.charset
import inspect
import logging
import re
import shutil
import smtplib
import ssl
import tempfile
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote, urlencode

import apprise
from apprise import NotifyFormat
from apprise.plugins.email.base import NotifyEmail as _AppriseEmail

from notifications.results import DeliveryResult, Outcome

# Apprise is untyped: its email plugin is used as Any (subclassed and called), as zalo.py does.
NotifyEmail: Any = _AppriseEmail

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

__all__ = [
    "BodyFormat",
    "DeliveryResult",
    "Outcome",
    "Security",
    "SmtpLink",
    "ascii_filename",
    "email_url",
    "send_mail",
    "send_one",
]

logger = logging.getLogger(__name__)

BodyFormat = Literal["text", "html"]
Security = Literal["none", "starttls", "ssl"]


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

# Python folds a UTF-8 header by trying quoted-printable and base64 at every candidate cut to
# keep the shorter ("SHORTEST"): quadratic in the header's length, and most of the CPU time
# of sending a Vietnamese email through Apprise (which wraps the subject in Header(…, "utf-8")).
# For Vietnamese text base64 is the shorter anyway, so say so once; ASCII headers are not
# encoded at all and are unaffected. Mail clients decode both forms alike.
email.charset.add_charset("utf-8", email.charset.BASE64, email.charset.BASE64, "utf-8")

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
    link: SmtpLink | None = None,
) -> DeliveryResult:
    """Send one message to the single recipient named by ``url``; never raises for I/O.

    With ``link``, an email URL is sent over the link's connection, kept open for the next
    send (see the module docstring); other URLs ignore it. Without, an email goes over a
    connection of its own, closed afterwards: every email takes the one path of our plugin.
    """
    own = link is None and _is_email(url)
    link = link or (SmtpLink() if own else None)
    try:
        return _send_one(url, title, body, body_format, attachments, link)
    finally:
        if own and link is not None:
            link.close()


def _send_one(
    url: str,
    title: str,
    body: str,
    body_format: BodyFormat,
    attachments: Sequence[Path],
    link: SmtpLink | None,
) -> DeliveryResult:
    asset = apprise.AppriseAsset(**_ASSET_OPTIONS)
    ready = _ready(url, asset, link, body_format)
    if isinstance(ready, DeliveryResult):
        return ready
    plugin, secrets, capture = ready
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
    result = dataclasses.replace(result, detail=_redact(result.detail, secrets))
    logger.info("%s delivery: %s (%s)", plugin.service_name, result.outcome, result.detail)
    return result


def _ready(
    url: str, asset: Any, link: SmtpLink | None, body_format: BodyFormat
) -> tuple[Any, list[str], _RecordCollector] | DeliveryResult:
    """The plugin for ``url``, checked to reach one recipient and prepared to send, with the
    secrets to redact from what it logs and the collector of its log; or why it cannot."""
    plugin = _instantiate(url, asset, link)
    if plugin is None:
        return DeliveryResult(Outcome.PERMANENT, f"unusable {_scheme(url)}:// URL")
    secrets = _secrets_of(plugin)
    problem = _check_single_recipient(plugin)
    if problem:
        return DeliveryResult(Outcome.PERMANENT, problem)
    _prepare(plugin, body_format)
    capture = _RecordCollector()
    plugin.logger = capture.logger
    return plugin, secrets, capture


def send_mail(url: str, raw: bytes, *, link: SmtpLink | None = None) -> DeliveryResult:
    """Send a message we built ourselves (``raw``, headers and all) to the one recipient of
    the email ``url``, through Apprise's email plugin and ``link`` (a connection of its own
    when None); never raises for I/O.

    Apprise's ``prepare_emails`` cannot take our own text part (module docstring), so the
    plugin subclass sends ``raw`` as it is: the mail on the wire is byte for byte the one
    written to an ``.eml`` file when no server is configured.
    """
    if not _is_email(url):
        return DeliveryResult(Outcome.PERMANENT, f"not an email URL: {_scheme(url)}://")
    own = link is None
    link = link or SmtpLink()
    try:
        return _send_prepared(url, raw, link)
    finally:
        if own:
            link.close()


def _send_prepared(url: str, raw: bytes, link: SmtpLink) -> DeliveryResult:
    asset = apprise.AppriseAsset(**_ASSET_OPTIONS)
    ready = _ready(url, asset, link, "text")
    if isinstance(ready, DeliveryResult):
        return ready
    plugin, secrets, capture = ready
    plugin.giaoviec_raw = raw
    sender = apprise.Apprise(asset=asset)
    sender.add(plugin)
    # Apprise wants a body; the plugin sends ``raw`` instead of building one from it.
    accepted = sender.notify(body="-", title="", body_format=NotifyFormat.TEXT)
    capture.forward(logging.getLogger(apprise.LOGGER_NAME), secrets)
    result = _result_of(plugin, bool(accepted), capture.messages())
    result = dataclasses.replace(result, detail=_redact(result.detail, secrets))
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


def _instantiate(url: str, asset: apprise.AppriseAsset, link: SmtpLink | None) -> Any:
    if link is None or not _is_email(url):
        return apprise.Apprise.instantiate(url, asset=asset)
    # What Apprise.instantiate does for a mailto URL, with the subclass in place of the plugin.
    arguments = NotifyEmail.parse_url(url)
    if not arguments:
        return None
    try:
        plugin = _LinkedEmail(asset=asset, **arguments)
    except (TypeError, ValueError):  # Apprise's own answer to a malformed URL
        return None
    plugin.giaoviec_link = link
    return plugin


def _is_email(url: str) -> bool:
    return _scheme(url) in ("mailto", "mailtos")


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
    """The plugin's own account when it gives one (our email and Zalo plugins), else what
    Apprise's boolean and the plugin's last log line say (an extra URL on a contact)."""
    rich = getattr(plugin, "delivery_result", None)
    if isinstance(rich, DeliveryResult):
        return rich
    if accepted:
        return DeliveryResult(Outcome.SENT, f"accepted by {plugin.service_name}")
    failure = getattr(plugin, "smtp_failure", None)
    if isinstance(failure, SmtpFailure):
        return classify_smtp_failure(failure)
    warnings = [m for m in messages if m] or ["no reason logged"]
    return DeliveryResult(Outcome.TRANSIENT, f"{plugin.service_name} failed: {warnings[-1][:200]}")


@dataclass(frozen=True)
class SmtpFailure:
    """What went wrong in one SMTP send, as the email plugin saw it (not as it logged it)."""

    error: BaseException
    # MAIL/RCPT/DATA had started: a timeout or lost connection may hide an accepted message.
    in_transaction: bool


def _smtp_reply(error: BaseException) -> tuple[int, str] | None:
    """The server's reply code and text carried by an smtplib error, if any."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        # One recipient per send: its (code, text) pair is the reply.
        for code, text in error.recipients.values():
            return int(code), _reply_text(text)
        return None
    if isinstance(error, smtplib.SMTPResponseException):  # data, sender, login, …
        return int(error.smtp_code), _reply_text(error.smtp_error)
    return None


def _reply_text(text: bytes | str) -> str:
    return text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)


def classify_smtp_failure(failure: SmtpFailure) -> DeliveryResult:
    """An outcome from the SMTP error itself (see module docstring)."""
    error = failure.error
    reply = _smtp_reply(error)
    if reply is not None:
        code, text = reply[0], reply[1][:200]
        if code in _SETUP_CODES:  # our login or set-up, not the recipient (setup_failure)
            return DeliveryResult(
                Outcome.TRANSIENT,
                f"SMTP {code} {text}".strip(),
                server_failed=True,
                setup_failed=True,
            )
        outcome = Outcome.PERMANENT if code >= 500 else Outcome.TRANSIENT
        # 421 is the server's own "service not available", whoever the recipient.
        return DeliveryResult(outcome, f"SMTP {code} {text}".strip(), server_failed=code == 421)
    described = str(error)[:200]
    if failure.in_transaction:
        # A timeout or lost connection after MAIL/RCPT/DATA went out: the server may
        # have queued the message.
        return DeliveryResult(
            Outcome.UNKNOWN,
            f"SMTP transaction interrupted ({described}); may have been sent",
            server_failed=True,
        )
    return DeliveryResult(
        Outcome.TRANSIENT, f"could not reach the server: {described}", server_failed=True
    )


# --- reused SMTP connections ------------------------------------------------------------

MESSAGES_PER_CONNECTION = 100  # then QUIT and reconnect: servers cap messages per session
# Commands after which a failure on a reused connection means it was dead before this
# message: the server accepts a message only at the end of DATA, so none of it went through.
_BEFORE_TRANSACTION = frozenset({"mail", "rset", "noop", "ehlo", "helo"})


class _Tracked:
    """Remembers the last SMTP command sent, to tell a dead connection from a failed send."""

    last_command = ""

    def putcmd(self, cmd: str, args: str = "") -> None:
        self.last_command = cmd.lower()
        super().putcmd(cmd, args)  # type: ignore[misc]


class _TrackedSMTP(_Tracked, smtplib.SMTP):
    pass


class _TrackedSMTPSSL(_Tracked, smtplib.SMTP_SSL):
    pass


class SmtpLink:
    """One SMTP connection kept open across sends, for one thread; ``close()`` at the end."""

    def __init__(self) -> None:
        self._connection: _TrackedSMTP | _TrackedSMTPSSL | None = None
        self._key: tuple[Any, ...] | None = None
        self._sent = 0
        self.opened = 0  # connections opened so far (for tests and figures)

    def connection(self, plugin: Any) -> tuple[_TrackedSMTP | _TrackedSMTPSSL, bool]:
        """The open connection for ``plugin``'s server, and whether it was used before."""
        key = (
            plugin.smtp_host,
            plugin.port,
            plugin.secure_mode,
            plugin.user,
            plugin.password,
            plugin.verify_certificate,
            plugin.socket_connect_timeout,
        )
        if self._connection is not None and (
            key != self._key or self._sent >= MESSAGES_PER_CONNECTION
        ):
            self.close()
        if self._connection is not None:
            return self._connection, True
        self._connection = self._open(plugin)
        self._key, self._sent = key, 0
        self.opened += 1
        return self._connection, False

    def _open(self, plugin: Any) -> _TrackedSMTP | _TrackedSMTPSSL:
        # As Apprise's plugin does it, but the TLS context only when TLS is used.
        context: ssl.SSLContext | None = None
        if plugin.secure_mode in ("ssl", "starttls"):  # Apprise's SecureMailMode values
            context = ssl.create_default_context()
            if not plugin.verify_certificate:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
        timeout = plugin.socket_connect_timeout
        connection: _TrackedSMTP | _TrackedSMTPSSL
        if plugin.secure_mode == "ssl":
            connection = _TrackedSMTPSSL(
                plugin.smtp_host, plugin.port, None, timeout=timeout, context=context
            )
        else:
            connection = _TrackedSMTP(plugin.smtp_host, plugin.port, None, timeout=timeout)
        try:
            if plugin.secure_mode == "starttls":
                connection.starttls(context=context)
            if plugin.user and plugin.password:
                connection.login(plugin.user, plugin.password)
        except BaseException:
            _quietly_close(connection)
            raise
        return connection

    def sent(self) -> None:
        self._sent += 1

    def discard(self) -> None:
        """Drop the connection without a word: its state is unknown after an error."""
        if self._connection is not None:
            _quietly_close(self._connection, polite=False)
        self._connection, self._key = None, None

    def close(self) -> None:
        if self._connection is not None:
            _quietly_close(self._connection)
        self._connection, self._key = None, None


def _quietly_close(connection: smtplib.SMTP, *, polite: bool = True) -> None:
    with contextlib.suppress(OSError, smtplib.SMTPException, RuntimeError):
        if polite:
            connection.quit()
    with contextlib.suppress(OSError):
        connection.close()


# The arguments of NotifyEmail.prepare_emails differ between Apprise 1.x releases: only
# those the installed release takes are passed.
_PREPARE_PARAMETERS = frozenset(inspect.signature(NotifyEmail.prepare_emails).parameters)


def _is_stale(error: BaseException, connection: _Tracked, reused: bool) -> bool:
    if not reused or connection.last_command not in _BEFORE_TRANSACTION:
        return False
    if isinstance(error, TimeoutError):
        return False  # a slow server, not a closed connection: report it as it is
    if isinstance(error, smtplib.SMTPSenderRefused):
        return error.smtp_code == 421
    return isinstance(error, (smtplib.SMTPServerDisconnected, ConnectionError))


@dataclass(frozen=True)
class _Prepared:
    """A message ready for the wire, shaped like what ``prepare_emails`` yields."""

    recipient: str
    to_addrs: list[str]
    body: bytes


# SMTP replies that refuse our login or set-up, whoever the recipient: 530 authentication
# required, 534 mechanism too weak, 535 credentials invalid, 538 encryption required.
_SETUP_CODES = frozenset({530, 534, 535, 538})


def setup_failure(error: BaseException) -> DeliveryResult | None:
    """A result for an SMTP error that is the configuration's fault (login, sender, TLS),
    or None when the error belongs to the message or is a passing outage."""
    reason: str | None = None
    if isinstance(error, smtplib.SMTPAuthenticationError):
        reason = (
            f"SMTP {error.smtp_code}: máy chủ từ chối đăng nhập "
            "(kiểm tra GIAOVIEC_SMTP_USER và GIAOVIEC_SMTP_PASSWORD)"
        )
    elif isinstance(error, smtplib.SMTPNotSupportedError):
        reason = f"máy chủ SMTP không hỗ trợ cách kết nối đã cấu hình ({error})"
    elif isinstance(error, smtplib.SMTPResponseException) and error.smtp_code in _SETUP_CODES:
        reason = f"SMTP {error.smtp_code}: máy chủ đòi xác thực hoặc mã hóa khác cấu hình"
    elif isinstance(error, smtplib.SMTPSenderRefused) and error.smtp_code >= 500:
        reason = f"SMTP {error.smtp_code}: máy chủ không nhận địa chỉ gửi {error.sender!r}"
    elif isinstance(error, ssl.SSLError):
        reason = f"lỗi TLS với máy chủ SMTP ({type(error).__name__}): kiểm tra chế độ bảo mật"
    elif isinstance(error, smtplib.SMTPException) and "STARTTLS" in str(error):
        reason = "máy chủ SMTP không hỗ trợ STARTTLS: kiểm tra GIAOVIEC_SMTP_SECURITY"
    if reason is None:
        return None
    return DeliveryResult(Outcome.TRANSIENT, reason, server_failed=True, setup_failed=True)


class _LinkedEmail(NotifyEmail):  # type: ignore[misc]  # subclassing Any
    """Apprise's email plugin sending over a ``SmtpLink`` (module docstring)."""

    giaoviec_link: SmtpLink
    delivery_result: DeliveryResult | None = None
    # The error of a failed send, for _result_of; Apprise itself only logs it.
    smtp_failure: SmtpFailure | None = None

    def send(
        self,
        body: str,
        title: str = "",
        notify_type: Any = None,
        attach: Any = None,
        **kwargs: Any,
    ) -> bool:
        if not self.targets:
            self.logger.warning("There are no Email recipients to notify")
            return False
        self.throttle()
        raw: bytes | None = getattr(self, "giaoviec_raw", None)
        if raw is not None:  # a message built by notifications.mail: sent as it is
            to_addr = str(self.targets[0][1])
            return self._send_message(_Prepared(recipient=to_addr, to_addrs=[to_addr], body=raw))
        headers = {"X-Application": self.app_id, **self.headers}
        candidates: dict[str, Any] = {
            "subject": title,
            "body": body,
            "notify_format": self.notify_format,
            "from_addr": self.from_addr,
            "to": self.targets,
            "cc": self.cc,
            "bcc": self.bcc,
            "reply_to": self.reply_to,
            "smtp_host": self.smtp_host,
            "attach": attach,
            "headers": headers,
            "names": self.names,
            "pgp": getattr(self, "pgp", None),
            "pgp_mode": getattr(self, "pgp_mode", None),
            "inline": getattr(self, "inline", False),
            "tzinfo": getattr(self, "tzinfo", None),
        }
        arguments = {k: v for k, v in candidates.items() if k in _PREPARE_PARAMETERS}
        try:
            emails = list(NotifyEmail.prepare_emails(**arguments))
        except Exception as exc:  # AppriseEmailException and kin: the message cannot be built
            self.logger.debug(f"Socket Exception: {exc}")
            self.smtp_failure = SmtpFailure(exc, in_transaction=False)
            return False
        has_error = False
        for message in emails:
            if not self._send_message(message):
                has_error = True
        return not has_error

    def _send_message(self, message: Any) -> bool:
        link = self.giaoviec_link
        for _ in range(2):  # the second time only when the reused connection was dead
            try:
                self.logger.debug("Connecting to remote SMTP server...")
                connection, reused = link.connection(self)
            except (OSError, smtplib.SMTPException, RuntimeError) as exc:
                link.discard()
                self.logger.warning(
                    'Connection error while submitting email to "%s"', self.smtp_host
                )
                self.logger.debug(f"Socket Exception: {exc}")
                self.smtp_failure = SmtpFailure(exc, in_transaction=False)
                self.delivery_result = setup_failure(exc)
                return False
            started = time.monotonic()
            try:
                connection.sendmail(str(self.from_addr[1]), message.to_addrs, message.body)
            except (OSError, smtplib.SMTPException, RuntimeError) as exc:
                link.discard()
                if _is_stale(exc, connection, reused):
                    self.logger.debug(
                        "Reused SMTP connection was closed by the server (%s after %.1fs); "
                        "reconnecting",
                        exc,
                        time.monotonic() - started,
                    )
                    continue
                self.logger.warning('Sending email to "%s" failed.', message.recipient)
                self.logger.debug(f"Socket Exception: {exc}")
                self.smtp_failure = SmtpFailure(exc, in_transaction=True)
                self.delivery_result = setup_failure(exc)
                return False
            link.sent()
            self.logger.info("Sent Email to %s", message.recipient)
            return True
        return False  # not reached: a fresh connection is never stale
