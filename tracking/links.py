"""Signed one-click action links for reminders: "báo cáo hoàn thành", "xác nhận"...

A link names one assignment, one contact (the person the message went to) and one action,
carries the contact's generation (bumped when the contact is removed or changes unit, which
revokes every link made before), its expiry and a random nonce, and is signed (HMAC-SHA256,
itsdangerous) with ``GIAOVIEC_SECRET_KEY``. Opening it only shows a confirmation page; the
page's POST does the action, and in the same transaction writes the nonce to ``used_links``,
whose primary key makes the link single-use even when two clicks race.

The secret comes from the environment; with none set, an embedded install keeps a random one
in ``GIAOVIEC_HOME/secret_key`` (mode 0600), which every process of that install shares. The
secret is never logged nor shown.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import os
import secrets
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from models.enums import AssignmentState, ReminderKind
from models.errors import InvalidInput
from models.tables import Assignment, Contact, Department, Plan
from models.web_tables import UsedLink
from tracking.accounts import UNIT_ACTIONS
from tracking.labels import ACTION_BUTTONS
from tracking.settings import get_settings
from tracking.status import Action

__all__ = [
    "LINK_LABELS",
    "LinkClaim",
    "LinkError",
    "LinkSettings",
    "LinkTarget",
    "action_links",
    "consume",
    "kinds_for_message",
    "link_settings",
    "make_token",
    "person_of",
    "read_token",
    "resolve",
    "secret_key",
]

MIN_SECRET_LENGTH = 32
_SALT = "giaoviec.action-link.v1"  # a session cookie can never pass for a link, nor back
SECRET_FILE = "secret_key"
_USED = "Liên kết này đã được sử dụng. Mỗi liên kết chỉ dùng được một lần."

LINK_LABELS = ACTION_BUTTONS  # a link is the same action as the page's button
# How the history marks an action taken through a link ("Trần Thị B (VP.UBND tỉnh, qua liên
# kết)"). A message names only the person (``person_of``): how they clicked is no news.
VIA_LINK = ", qua liên kết"


def person_of(actor: str) -> str:
    """The history's actor without the link mark: "Trần Thị B (VP.UBND tỉnh)"."""
    return actor.replace(VIA_LINK + ")", ")")


class LinkSettings(BaseSettings):
    """``GIAOVIEC_SECRET_KEY``, ``GIAOVIEC_PUBLIC_URL`` and ``GIAOVIEC_LINK_DAYS``."""

    model_config = SettingsConfigDict(env_prefix="GIAOVIEC_", extra="ignore")

    secret_key: SecretStr | None = None
    public_url: str | None = None  # e.g. https://giaoviec.angiang.gov.vn
    link_days: int = 14  # how long a link in a reminder stays usable


def link_settings() -> LinkSettings:
    # Not cached: tests and `giaoviec web` may change the environment; reading it is cheap.
    return LinkSettings()


class LinkError(InvalidInput):
    """A link that cannot be used; the message is for the user (Vietnamese)."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason  # invalid | expired | used | not_allowed
        super().__init__(message)


@dataclasses.dataclass(frozen=True)
class LinkClaim:
    """What a link says: who may do what to which assignment, until when."""

    assignment_id: int
    contact_id: int
    action: Action
    expires_at: dt.datetime
    nonce: str
    generation: int = 0  # links made before generations existed read as the first one


@dataclasses.dataclass(frozen=True)
class LinkTarget:
    """A checked link with the rows it names."""

    claim: LinkClaim
    assignment: Assignment
    contact: Contact
    department: Department

    @property
    def actor(self) -> str:
        """How the person is named in the history: the link proves who received it."""
        unit = self.department.short_name or self.department.name
        return f"{self.contact.name} ({unit}{VIA_LINK})"


# --- the secret -------------------------------------------------------------------------


def secret_key() -> str:
    """``GIAOVIEC_SECRET_KEY``, else the install's own random key under GIAOVIEC_HOME."""
    configured = link_settings().secret_key
    if configured is not None:
        value = configured.get_secret_value()
        if len(value) < MIN_SECRET_LENGTH:
            raise RuntimeError(
                f"GIAOVIEC_SECRET_KEY is too short: use at least {MIN_SECRET_LENGTH} characters"
            )
        return value
    return _home_secret(get_settings().home / SECRET_FILE)


def _home_secret(path: Path) -> str:
    try:
        return path.read_text("ascii").strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    try:
        # O_EXCL: when two processes start at once, one key wins and both read it.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text("ascii").strip()
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(value + "\n")
    return value


@lru_cache(maxsize=4)
def _serializer(secret: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret, salt=_SALT, signer_kwargs={"digest_method": hashlib.sha256})


# --- making links -----------------------------------------------------------------------


def make_token(claim: LinkClaim, secret: str) -> str:
    payload = [
        claim.assignment_id,
        claim.contact_id,
        claim.action.value,
        int(claim.expires_at.timestamp()),
        claim.nonce,
        claim.generation,
    ]
    token = _serializer(secret).dumps(payload)
    assert isinstance(token, str)
    return token


def action_links(
    assignment_id: int,
    contact_id: int,
    kinds: Iterable[Action],
    base_url: str,
    now: dt.datetime,
    valid_for: dt.timedelta | None = None,
    *,
    generation: int = 0,
) -> tuple[tuple[str, str], ...]:
    """(label, url) pairs for ``MessageContext.links``: one fresh signed link per action.

    ``generation`` is the contact's (``Contact.generation``) when the message is made; a link
    with an older one is refused (fails closed)."""
    lifetime = valid_for or dt.timedelta(days=link_settings().link_days)
    secret = secret_key()
    expires = now + lifetime
    base = base_url.rstrip("/")
    links = []
    for action in kinds:
        nonce = secrets.token_urlsafe(12)
        claim = LinkClaim(assignment_id, contact_id, action, expires, nonce, generation)
        links.append((LINK_LABELS[action], f"{base}/l/{make_token(claim, secret)}"))
    return tuple(links)


# Reminders that ask the lead unit to act, and what the coordinator decides on.
_UNIT_KINDS = frozenset(
    {
        ReminderKind.UPCOMING,
        ReminderKind.DUE_TODAY,
        ReminderKind.OVERDUE,
        ReminderKind.ESCALATION,
        ReminderKind.RETURNED,
        ReminderKind.EXTENDED,
        ReminderKind.PREREQUISITE_DONE,
        ReminderKind.EVENT_PASSED,  # work done but not reported can still be reported
    }
)


def kinds_for_message(
    kind: ReminderKind, role: str, is_copy: bool, state: AssignmentState
) -> tuple[Action, ...]:
    """Which links a message carries: none on copies, for cooperating units or lists."""
    if is_copy:
        return ()
    if role == "coordinator":
        if kind is ReminderKind.SUBMITTED and state is AssignmentState.SUBMITTED:
            return (Action.CONFIRM, Action.RETURN)
        if kind in (ReminderKind.BLOCKED, ReminderKind.ESCALATION):
            return (Action.EXTEND,)
        return ()
    if role in ("lead", "head") and kind in _UNIT_KINDS:
        if state is AssignmentState.NOT_STARTED:
            return (Action.START, Action.SUBMIT, Action.BLOCK)
        if state is AssignmentState.IN_PROGRESS:
            return (Action.SUBMIT, Action.BLOCK)
        if state is AssignmentState.BLOCKED:
            return (Action.UNBLOCK,)
    return ()


# --- using links ------------------------------------------------------------------------


_MAX_ROW_ID = 2_147_483_647  # the databases' INTEGER column


def _row_id(value: Any) -> int:
    number = int(value)
    if not 1 <= number <= _MAX_ROW_ID:
        raise ValueError("row id out of range")  # the database would fail on it, not answer
    return number


def read_token(token: str, secret: str, now: dt.datetime) -> LinkClaim:
    """The claim of a genuine, unexpired link; raises ``LinkError`` otherwise."""
    try:
        payload = _serializer(secret).loads(token)
        if len(payload) == 5:  # made before links carried the contact's generation
            payload = [*payload, 0]
        assignment_id, contact_id, action, expires, nonce, generation = payload
        claim = LinkClaim(
            _row_id(assignment_id),
            _row_id(contact_id),
            Action(action),
            dt.datetime.fromtimestamp(int(expires), dt.UTC),
            str(nonce),
            int(generation),
        )
    # OverflowError/OSError: a genuine signature over absurd numbers (a leaked secret, or a
    # link made by hand) — an expiry past year 9999 — is as invalid as a forged one.
    except (BadSignature, ValueError, TypeError, OverflowError, OSError) as exc:
        raise LinkError(
            "invalid",
            "Liên kết không hợp lệ (có thể bị sao chép thiếu hoặc đã bị sửa). "
            "Hãy mở lại liên kết trong thư nhắc việc, hoặc đăng nhập để thao tác.",
        ) from exc
    if now >= claim.expires_at:
        raise LinkError(
            "expired",
            "Liên kết đã hết hạn. Hãy dùng liên kết trong thư nhắc việc mới nhất, "
            "hoặc đăng nhập để thao tác.",
        )
    return claim


def resolve(session: Session, token: str, now: dt.datetime) -> LinkTarget:
    """Check a link against the database: unused, its rows exist, the contact may act."""
    claim = read_token(token, secret_key(), now)
    used = session.get(UsedLink, claim.nonce)
    if used is not None:
        raise LinkError("used", _USED)
    assignment = session.get(Assignment, claim.assignment_id)
    contact = session.get(Contact, claim.contact_id)
    department = session.get(Department, contact.department_id) if contact else None
    plan = session.get(Plan, assignment.plan_id) if assignment else None
    if assignment is None or contact is None or department is None or plan is None:
        raise LinkError("invalid", "Liên kết không còn dùng được: nhiệm vụ hoặc người nhận đã đổi.")
    if not contact.active or claim.generation != contact.generation:
        raise LinkError(
            "not_allowed",
            "Liên kết này đã hết hiệu lực: người nhận đã được gỡ khỏi danh sách hoặc đã chuyển "
            "đơn vị. Hãy đăng nhập để thao tác.",
        )
    if not contact_may(contact, assignment, claim.action, plan.coordinator_department_id):
        raise LinkError("not_allowed", "Người nhận liên kết này không còn được giao thao tác này.")
    return LinkTarget(claim, assignment, contact, department)


def contact_may(
    contact: Contact, assignment: Assignment, action: Action, coordinator_unit: int | None
) -> bool:
    """A lead unit's contact does the unit's actions; a coordinator contact of the plan's
    coordinating unit decides (the flag is the person's; the plan says which unit decides)."""
    if not contact.active:
        return False
    if action in UNIT_ACTIONS and contact.department_id == assignment.lead_department_id:
        return True
    return contact.is_coordinator and contact.department_id == coordinator_unit


def consume(session: Session, target: LinkTarget, now: dt.datetime) -> None:
    """Mark the link used, in the action's transaction; a racing second use fails to flush."""
    claim = target.claim
    session.add(
        UsedLink(
            nonce=claim.nonce,
            assignment_id=claim.assignment_id,
            contact_id=claim.contact_id,
            action=claim.action.value,
            used_at=now,
            expires_at=claim.expires_at,
        )
    )
    try:
        session.flush()
    except IntegrityError as exc:
        raise LinkError("used", _USED) from exc
