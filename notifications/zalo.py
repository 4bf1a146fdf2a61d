"""Zalo delivery: Official Account messages and ZNS template messages.

* :func:`send_oa_message` — a text message from the Official Account to one follower
  (``POST {oa_base}/v3.0/oa/message/cs``).
* :func:`send_zns` — a ZNS template message to one phone number
  (``POST {business_base}/message/template``); ``tracking_id`` is the outbox delivery id so
  Zalo's delivery reports can be matched.

Both return a :class:`~notifications.results.DeliveryResult`. They are called directly by the
outbox (``notifications.delivery``), not through Apprise: Apprise 1.x has no Zalo plugin, and
our own ``zalooa://``/``zns://`` plugins (removed) only put a URL round trip in front of these
two functions. The app id, secret key and base URLs come from a :class:`ZaloConfig`, the
access/refresh tokens from a :class:`TokenStore`; no secret is ever part of a URL.

Access tokens live about 25 hours. When Zalo answers -216 or -124 the token is refreshed
through the OAuth endpoint and the send is retried once. A refresh token works only once, so
the refresh runs under the token store's lock and, after taking it, re-reads the store: when
another thread or process refreshed meanwhile, its token is used and no second refresh is
made.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from zoneinfo import ZoneInfo

import httpx

from notifications.results import DeliveryResult, Outcome

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping
    from contextlib import AbstractContextManager

__all__ = [
    "PERMANENT_ERRORS",
    "TOKEN_ERRORS",
    "VN_TZ",
    "FileTokenStore",
    "TokenPair",
    "TokenRefreshError",
    "TokenStore",
    "TokenStoreError",
    "ZaloAccount",
    "ZaloConfig",
    "in_zns_quiet_hours",
    "normalize_phone",
    "refresh_access_token",
    "send_oa_message",
    "send_zns",
]

logger = logging.getLogger(__name__)

VN_TZ = ZoneInfo("Asia/Ho_Chi_Minh")

# ZNS may not be sent at night (Zalo's rule for template messages): 22:00-06:00 local time.
ZNS_QUIET_START = clock_time(22, 0)
ZNS_QUIET_END = clock_time(6, 0)

# -216: access token invalid, -124: access token expired.
TOKEN_ERRORS = frozenset({-216, -124})
RATE_LIMITED = -32
# Errors that no retry will fix; the caller falls back to email.
PERMANENT_ERRORS: dict[int, str] = {
    -213: "user is not a follower of the OA",
    -230: "user has not interacted with the OA in the last 7 days",
    -108: "invalid phone number",
    -114: "user cannot receive ZNS (inactive, blocked or not on Zalo)",
}

# Zalo's limit for a text message from an OA.
OA_TEXT_MAXLEN = 2000
# Zalo's limit for a ZNS tracking_id.
TRACKING_ID_MAXLEN = 48

_ID_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class ZaloConfig:
    """Where and as whom to call Zalo. The secret key never shows in repr or logs."""

    app_id: str
    secret_key: str = field(repr=False)
    oa_base: str = "https://openapi.zalo.me"
    business_base: str = "https://business.openapi.zalo.me"
    oauth_base: str = "https://oauth.zaloapp.com"
    connect_timeout: float = 5.0
    read_timeout: float = 15.0

    def timeout(self) -> httpx.Timeout:
        """Explicit timeouts: connect failures are safe to retry, read timeouts are not."""
        return httpx.Timeout(
            connect=self.connect_timeout,
            read=self.read_timeout,
            write=self.read_timeout,
            pool=self.connect_timeout,
        )


@dataclass(frozen=True)
class TokenPair:
    """An OA access token and the single-use refresh token that replaces it."""

    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_at: datetime | None = None


class TokenStoreError(RuntimeError):
    """The token store has no usable token pair (missing, unreadable)."""


class TokenStore(Protocol):
    """Where an OA's current token pair lives.

    ``replace`` is a compare-and-swap on the refresh token; callers hold ``lock()`` around
    read-refresh-replace so that one refresh token is spent exactly once, across threads and
    processes.
    """

    def get(self) -> TokenPair:
        """Return the current pair; raise TokenStoreError when there is none."""
        ...

    def replace(self, old_refresh_token: str, new: TokenPair) -> bool:
        """Store ``new`` only if the stored refresh token is still ``old_refresh_token``."""
        ...

    def lock(self) -> AbstractContextManager[None]:
        """An exclusive lock held while refreshing."""
        ...


class FileTokenStore:
    """A token pair in a JSON file under ``folder``, shared by threads and processes.

    Writes go to a temporary file that replaces the old one (``os.replace``), so a reader
    never sees half a file. ``lock()`` takes an exclusive ``flock`` on a separate lock file;
    each call opens its own descriptor, so it excludes other threads of this process too.
    ``replace`` must be called while holding ``lock()``.
    """

    def __init__(self, folder: Path, name: str = "zalo") -> None:
        self.folder = Path(folder)
        self.path = self.folder / f"{name}.tokens.json"
        self.lock_path = self.folder / f"{name}.tokens.lock"

    def __repr__(self) -> str:
        return f"FileTokenStore({str(self.path)!r})"

    def get(self) -> TokenPair:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            expires = raw.get("expires_at")
            return TokenPair(
                access_token=str(raw["access_token"]),
                refresh_token=str(raw["refresh_token"]),
                expires_at=datetime.fromisoformat(expires) if expires else None,
            )
        except FileNotFoundError:
            raise TokenStoreError(f"no Zalo token pair stored in {self.path}") from None
        except (ValueError, KeyError, TypeError):
            # The message names the file only: its content is secret.
            raise TokenStoreError(f"unreadable Zalo token file {self.path}") from None

    def replace(self, old_refresh_token: str, new: TokenPair) -> bool:
        try:
            current = self.get()
        except TokenStoreError:
            return False
        if current.refresh_token != old_refresh_token:
            return False
        self._write(new)
        return True

    def seed(self, pair: TokenPair) -> None:
        """Store a pair obtained outside this program (first authorization of the OA)."""
        with self.lock():
            self._write(pair)

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        self.folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def _write(self, pair: TokenPair) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        data = {
            "access_token": pair.access_token,
            "refresh_token": pair.refresh_token,
            "expires_at": pair.expires_at.isoformat() if pair.expires_at else None,
        }
        # mkstemp creates the file 0600: tokens are credentials.
        fd, tmp_name = tempfile.mkstemp(dir=self.folder, prefix=".tokens-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(data, handle)
                handle.flush()
                os.fsync(handle.fileno())
            Path(tmp_name).replace(self.path)  # atomic rename (os.replace)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                Path(tmp_name).unlink()
            raise
        _fsync_dir(self.folder)


def _fsync_dir(folder: Path) -> None:
    """Make the rename durable; a lost rename would resurrect a spent refresh token."""
    with contextlib.suppress(OSError):
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _vn_now() -> datetime:
    return datetime.now(tz=VN_TZ)


@dataclass(frozen=True)
class ZaloAccount:
    """One Official Account: its id, settings, token store and clock (injectable)."""

    oa_id: str
    config: ZaloConfig
    store: TokenStore
    clock: Callable[[], datetime] = field(default=_vn_now, repr=False)


# --------------------------------------------------------------------------- sending


class TokenRefreshError(RuntimeError):
    """The token could not be refreshed; ``outcome`` says what it means for the send."""

    def __init__(self, outcome: Outcome, detail: str) -> None:
        super().__init__(detail)
        self.outcome = outcome


@dataclass(frozen=True)
class _Attempt:
    result: DeliveryResult
    token_rejected: bool = False


def send_oa_message(account: ZaloAccount, user_id: str, text: str) -> DeliveryResult:
    """Send a text message from the OA to one follower."""
    text = text.replace("\r\n", "\n").strip()
    if not text:
        return DeliveryResult(Outcome.PERMANENT, "empty Zalo message")
    payload = {"recipient": {"user_id": user_id}, "message": {"text": text[:OA_TEXT_MAXLEN]}}
    url = f"{account.config.oa_base.rstrip('/')}/v3.0/oa/message/cs"
    return _send_with_token(account, url, payload, id_field="message_id")


def send_zns(
    account: ZaloAccount,
    phone: str,
    template_id: str,
    template_data: Mapping[str, Any],
    tracking_id: str,
    *,
    now: datetime | None = None,
) -> DeliveryResult:
    """Send a ZNS template message, or defer it when it is night in Viet Nam.

    ``tracking_id`` (the delivery id, at most 48 characters) comes back in Zalo's delivery
    reports. ``now`` defaults to the account's clock; a naive datetime is read as
    Asia/Ho_Chi_Minh time.
    """
    if not tracking_id or len(tracking_id) > TRACKING_ID_MAXLEN:
        raise ValueError(f"tracking_id must have 1 to {TRACKING_ID_MAXLEN} characters")
    moment = now if now is not None else account.clock()
    if in_zns_quiet_hours(moment):
        resume = _next_zns_window(moment)
        return DeliveryResult(
            Outcome.DEFERRED,
            f"ZNS is not sent between 22:00 and 06:00 Asia/Ho_Chi_Minh; send after "
            f"{resume.isoformat()}",
            not_before=resume,
        )
    phone84 = normalize_phone(phone)
    if phone84 is None:
        return DeliveryResult(Outcome.PERMANENT, "invalid Vietnamese phone number")
    payload = {
        "phone": phone84,
        "template_id": str(template_id),
        "template_data": dict(template_data),
        "tracking_id": tracking_id,
    }
    url = f"{account.config.business_base.rstrip('/')}/message/template"
    return _send_with_token(account, url, payload, id_field="msg_id")


def in_zns_quiet_hours(moment: datetime) -> bool:
    """True between 22:00 and 06:00 Asia/Ho_Chi_Minh (naive times are taken as local)."""
    local = moment.astimezone(VN_TZ) if moment.tzinfo else moment.replace(tzinfo=VN_TZ)
    return local.time() >= ZNS_QUIET_START or local.time() < ZNS_QUIET_END


def _next_zns_window(moment: datetime) -> datetime:
    local = moment.astimezone(VN_TZ) if moment.tzinfo else moment.replace(tzinfo=VN_TZ)
    day = local.date() if local.time() < ZNS_QUIET_END else local.date() + timedelta(days=1)
    return datetime.combine(day, ZNS_QUIET_END, tzinfo=VN_TZ)


def normalize_phone(phone: str) -> str | None:
    """Return the number as ZNS wants it (``84`` + 9 digits), or None if it is not one."""
    digits = re.sub(r"[\s.\-()]", "", phone)
    if digits.startswith("+"):
        digits = digits[1:]
    if digits.startswith("0"):
        digits = "84" + digits[1:]
    return digits if re.fullmatch(r"84[1-9]\d{8}", digits) else None


def _send_with_token(
    account: ZaloAccount, url: str, payload: dict[str, Any], *, id_field: str
) -> DeliveryResult:
    try:
        pair = account.store.get()
    except TokenStoreError as exc:
        return DeliveryResult(Outcome.PERMANENT, f"no usable Zalo token: {exc}")
    with httpx.Client(timeout=account.config.timeout()) as client:
        attempt = _post(client, url, pair.access_token, payload, id_field)
        if not attempt.token_rejected:
            return attempt.result
        try:
            fresh = refresh_access_token(account, pair.access_token, client=client)
        except TokenRefreshError as exc:
            return DeliveryResult(exc.outcome, str(exc))
        retry = _post(client, url, fresh.access_token, payload, id_field)
    if retry.token_rejected:
        return DeliveryResult(
            Outcome.TRANSIENT, "Zalo rejected the access token again after refresh"
        )
    return retry.result


def _post(
    client: httpx.Client, url: str, token: str, payload: dict[str, Any], id_field: str
) -> _Attempt:
    try:
        response = client.post(url, headers={"access_token": token}, json=payload)
    except httpx.TransportError as exc:
        return _Attempt(_transport_failure(exc))
    return _interpret(response, id_field)


def _transport_failure(exc: httpx.TransportError) -> DeliveryResult:
    """Map a transport error by whether the request can have reached Zalo."""
    name = type(exc).__name__
    if isinstance(exc, httpx.UnsupportedProtocol):
        return DeliveryResult(Outcome.PERMANENT, f"bad Zalo base URL ({name})")
    # Nothing was sent (or not completely): resending cannot duplicate the message.
    nothing_sent = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
    if isinstance(exc, (*nothing_sent, httpx.WriteTimeout, httpx.WriteError, httpx.ProxyError)):
        return DeliveryResult(Outcome.TRANSIENT, f"could not reach Zalo ({name})")
    # The request went out and no answer came back: Zalo may have delivered it.
    return DeliveryResult(
        Outcome.UNKNOWN, f"no answer from Zalo after sending ({name}); may have been delivered"
    )


def _interpret(response: httpx.Response, id_field: str) -> _Attempt:
    status = response.status_code
    if status >= 500 or status in (408, 429):
        return _Attempt(DeliveryResult(Outcome.TRANSIENT, f"Zalo HTTP {status}"))
    if status >= 400:
        return _Attempt(DeliveryResult(Outcome.PERMANENT, f"Zalo HTTP {status}"))
    try:
        data = response.json()
        code = int(data["error"])
    except (ValueError, KeyError, TypeError):
        # Zalo accepted the request but the answer cannot be read: it may have been sent.
        return _Attempt(DeliveryResult(Outcome.UNKNOWN, "unreadable answer from Zalo"))
    if code == 0:
        inner = data.get("data")
        provider_id = inner.get(id_field) if isinstance(inner, dict) else None
        return _Attempt(
            DeliveryResult(
                Outcome.SENT, "accepted by Zalo", provider_id=str(provider_id or "") or None
            )
        )
    if code in TOKEN_ERRORS:
        return _Attempt(
            DeliveryResult(Outcome.TRANSIENT, f"access token rejected (Zalo error {code})"),
            token_rejected=True,
        )
    if code == RATE_LIMITED:
        return _Attempt(DeliveryResult(Outcome.TRANSIENT, f"rate limited (Zalo error {code})"))
    if code in PERMANENT_ERRORS:
        return _Attempt(
            DeliveryResult(Outcome.PERMANENT, f"{PERMANENT_ERRORS[code]} (Zalo error {code})")
        )
    message = str(data.get("message", ""))[:200]
    return _Attempt(DeliveryResult(Outcome.PERMANENT, f"Zalo error {code}: {message}"))


# --------------------------------------------------------------------------- token refresh


def refresh_access_token(
    account: ZaloAccount, rejected_access_token: str, *, client: httpx.Client | None = None
) -> TokenPair:
    """Return a working token pair after ``rejected_access_token`` was refused.

    Refreshes at most once per rejected token: under the store's lock the store is re-read,
    and if it already holds a different access token (another thread or process refreshed),
    that pair is returned without calling Zalo.
    """
    store = account.store
    with store.lock():
        try:
            current = store.get()
        except TokenStoreError as exc:
            raise TokenRefreshError(Outcome.PERMANENT, str(exc)) from None
        if current.access_token != rejected_access_token:
            logger.debug("Zalo token for OA %s was already refreshed elsewhere", account.oa_id)
            return current
        new = _request_new_pair(account.config, current.refresh_token, client)
        if not store.replace(current.refresh_token, new):
            # Only a store that ignores its own lock can get here.
            raise TokenRefreshError(Outcome.TRANSIENT, "token store changed during refresh")
    logger.info(
        "Zalo access token refreshed for OA %s (valid until %s)",
        account.oa_id,
        new.expires_at.isoformat() if new.expires_at else "unknown",
    )
    return new


def _request_new_pair(
    config: ZaloConfig, refresh_token: str, client: httpx.Client | None
) -> TokenPair:
    url = f"{config.oauth_base.rstrip('/')}/v4/oa/access_token"
    form = {"refresh_token": refresh_token, "app_id": config.app_id, "grant_type": "refresh_token"}
    owned = client is None
    http = httpx.Client(timeout=config.timeout()) if client is None else client
    try:
        response = http.post(url, headers={"secret_key": config.secret_key}, data=form)
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
        raise TokenRefreshError(
            Outcome.TRANSIENT, f"could not reach Zalo OAuth ({type(exc).__name__})"
        ) from None
    except httpx.TransportError as exc:
        # Zalo may have spent the refresh token without us seeing the new one.
        logger.error(
            "No answer from Zalo OAuth while refreshing (%s); if sends keep failing, "
            "re-authorize the OA",
            type(exc).__name__,
        )
        raise TokenRefreshError(
            Outcome.TRANSIENT, f"no answer from Zalo OAuth ({type(exc).__name__})"
        ) from None
    finally:
        if owned:
            http.close()
    return _parse_token_response(response)


def _parse_token_response(response: httpx.Response) -> TokenPair:
    if response.status_code >= 500:
        raise TokenRefreshError(Outcome.TRANSIENT, f"Zalo OAuth HTTP {response.status_code}")
    try:
        data = response.json()
        access, refresh = str(data["access_token"]), str(data["refresh_token"])
    except (ValueError, KeyError, TypeError):
        code = _error_code(response)
        logger.error("Zalo refused the refresh token (error %s); re-authorize the OA", code)
        raise TokenRefreshError(
            Outcome.PERMANENT, f"Zalo refused the refresh token (error {code})"
        ) from None
    try:
        lifetime = timedelta(seconds=int(data.get("expires_in", 0)))
    except (TypeError, ValueError):
        lifetime = timedelta(0)
    expires_at = datetime.now(tz=UTC) + lifetime if lifetime else None
    return TokenPair(access_token=access, refresh_token=refresh, expires_at=expires_at)


def _error_code(response: httpx.Response) -> str:
    try:
        return str(response.json().get("error", "?"))
    except (ValueError, AttributeError):
        return f"HTTP {response.status_code}"
