"""Web accounts: creating users, checking passwords (argon2id) and what each role may do.

Roles:

- **coordinator** (Ban Thi đua - Khen thưởng): every action on every assignment;
- **department**: the unit's own actions (start, submit, block, unblock) on assignments its
  unit leads; it may read everything, and download the evidence of assignments its unit leads
  or cooperates on;
- **viewer** (leaders): reads everything, acts on nothing.

Messages of ``InvalidAction``/``NotFound`` are for the user (Vietnamese).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging
import re
import secrets
import threading
from functools import lru_cache
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from models.tables import Assignment, AssignmentCooperator
from models.web_tables import LoginThrottle, User, UserRole, WebSession
from tracking import db, store
from tracking.status import Action

# Auth events (sign-in, failure, lock-out, sign-out, password reset, account disabled): names
# and addresses only, never a password, a session token or a hash.
auth_log = logging.getLogger("giaoviec.auth")

MIN_PASSWORD_LENGTH = 8
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{2,63}$")

# What a unit does about its own work; everything else is the coordinator's decision.
UNIT_ACTIONS = frozenset({Action.START, Action.SUBMIT, Action.BLOCK, Action.UNBLOCK})
COORDINATOR_ACTIONS = frozenset(Action)

ROLE_LABELS: dict[UserRole, str] = {
    UserRole.COORDINATOR: "Điều phối (Ban Thi đua - Khen thưởng)",
    UserRole.DEPARTMENT: "Cán bộ đơn vị",
    UserRole.VIEWER: "Lãnh đạo (chỉ xem)",
}


@lru_cache(maxsize=1)
def _hasher() -> PasswordHasher:
    # argon2-cffi's defaults follow RFC 9106's low-memory profile (argon2id, 64 MiB, t=3).
    return PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError, ValueError):  # ValueError: a non-ASCII "hash"
        return False


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return hash_password("không có tài khoản này")


def check_password_rules(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise store.InvalidAction(f"Mật khẩu phải có ít nhất {MIN_PASSWORD_LENGTH} ký tự.")


def normalise_username(username: str) -> str:
    name = username.strip().lower()
    if not _USERNAME.match(name):
        raise store.InvalidAction(
            f"Tên đăng nhập “{username}” không hợp lệ: 3–64 ký tự gồm chữ không dấu, số, "
            "dấu chấm, gạch ngang hoặc gạch dưới."
        )
    return name


def create_user(
    session: Session,
    username: str,
    password: str,
    role: UserRole,
    department: str | None = None,
    display_name: str | None = None,
) -> User:
    """A new account; a department account needs its unit, the other roles have none."""
    name = normalise_username(username)
    check_password_rules(password)
    if session.exec(select(User).where(User.username == name)).first() is not None:
        raise store.InvalidAction(f"Tên đăng nhập “{name}” đã có.")
    department_id = _department_for(session, role, department)
    user = User(
        username=name,
        display_name=(display_name or "").strip() or None,
        password_hash=hash_password(password),
        role=role,
        department_id=department_id,
    )
    session.add(user)
    session.flush()
    return user


def _department_for(session: Session, role: UserRole, department: str | None) -> int | None:
    if role is UserRole.DEPARTMENT:
        if not department:
            raise store.InvalidAction("Tài khoản đơn vị cần mã đơn vị.", field="department")
        return store.get_department(session, department).id
    if department:
        raise store.InvalidAction("Chỉ tài khoản đơn vị mới gắn với một đơn vị.")
    return None


def get_user(session: Session, username: str) -> User:
    user = session.exec(select(User).where(User.username == username.strip().lower())).first()
    if user is None:
        raise store.NotFound(f"Không tìm thấy tài khoản “{username}”.")
    return user


def list_users(session: Session) -> list[User]:
    return list(session.exec(select(User).order_by(col(User.username))))


def set_password(session: Session, username: str, password: str) -> User:
    """A new password; sessions signed in with the old one stop working (see fingerprint)."""
    check_password_rules(password)
    user = get_user(session, username)
    user.password_hash = hash_password(password)
    assert user.id is not None
    ended = end_sessions_of(session, user.id)
    auth_log.info("password reset: account=%s sessions_ended=%d", user.username, ended)
    return user


def set_active(session: Session, username: str, active: bool) -> User:
    """Disable or re-enable an account. Disabling ends its sessions for good: enabling it
    again does not bring them back (the person signs in anew)."""
    user = get_user(session, username)
    user.active = active
    if not active:
        assert user.id is not None
        ended = end_sessions_of(session, user.id)
        auth_log.info("account disabled: account=%s sessions_ended=%d", user.username, ended)
    else:
        auth_log.info("account enabled: account=%s", user.username)
    return user


def _find_user(session: Session, username: str) -> User | None:
    if "\x00" in username:  # PostgreSQL refuses NUL in a parameter; no name can hold one
        return None
    name = username.strip().lower()
    return session.exec(select(User).where(User.username == name)).first()


# --- signing in: throttled, and with a bounded number of argon2 checks at once ------------


@dataclasses.dataclass(frozen=True)
class ThrottlePolicy:
    """How many failed sign-ins a key may have within ``window`` before it is locked."""

    account_failures: int = 5
    address_failures: int = 30
    window: dt.timedelta = dt.timedelta(minutes=15)
    lock: dt.timedelta = dt.timedelta(minutes=15)


class LockedOut(Exception):
    """Too many failed sign-ins for this account or address; the message is for the user."""

    def __init__(self, until: dt.datetime, now: dt.datetime) -> None:
        self.until = until
        self.minutes = max(1, -(-int((until - now).total_seconds()) // 60))  # rounded up
        super().__init__(f"Đăng nhập sai quá nhiều lần, hãy thử lại sau {self.minutes} phút.")


class HashBusy(Exception):
    """Every password-check slot stayed taken: the server is overloaded, try again."""


@dataclasses.dataclass(frozen=True)
class _Keys:
    account: str  # "account:<name>"
    address: str  # "address:<ip>"

    @property
    def both(self) -> tuple[str, str]:
        return tuple(sorted((self.account, self.address)))  # type: ignore[return-value]


def sign_in(
    engine: Engine,
    username: str,
    password: str,
    address: str,
    now: dt.datetime,
    policy: ThrottlePolicy,
    hash_slots: threading.Semaphore,
    slot_timeout: float = 120.0,
) -> User | None:
    """The active user with this name and password, else None; raises ``LockedOut`` or
    ``HashBusy``.

    A locked account name or address is refused before any password is checked. The argon2
    check (64 MiB, ~0.25 s) runs only with one of ``hash_slots`` taken, outside any
    transaction, the locks are read again once the slot is taken, and a failure is counted
    before the slot is given back: attempts that queued while the limit was reached are
    refused unchecked, so 40 guesses at once get ``account_failures`` checks plus at most one
    per other slot in flight (6 with the default 2 slots). Failures are
    counted when they happen (in the database, so every process agrees), never ahead: people
    of one office, or of one shared account, signing in at the same minute do not lock
    themselves out. An unknown name costs the same check as a wrong password, so neither time
    nor lock-out tells which names exist.
    """
    account = username.strip().lower()[:64]
    keys = _Keys(f"account:{account}", f"address:{address}"[:120])
    with db.session_scope(engine) as session:
        _refuse_if_locked(session, keys, now)
    if not hash_slots.acquire(timeout=slot_timeout):
        raise HashBusy
    try:
        with db.session_scope(engine) as session:
            _refuse_if_locked(session, keys, now)  # the limit may have been reached meanwhile
            user = _find_user(session, username)
            stored_hash = user.password_hash if user is not None and user.active else None
            user_id = user.id if user is not None else None
        ok = verify_password(stored_hash or _dummy_hash(), password) and stored_hash is not None
        if not ok:
            # Counted before the slot is given back: the next attempt to take it reads it.
            with db.session_scope(engine) as session:
                locked = _count_failure(session, keys, now, policy)
    finally:
        hash_slots.release()
    if not ok:
        _log_failure(account if user_id is not None else None, address, locked)
        return None
    with db.session_scope(engine) as session:
        _forgive(session, keys)
        fresh = session.get(User, user_id)
        if fresh is None or not fresh.active:
            return None  # disabled while we were checking
        if fresh.password_hash != stored_hash and not verify_password(
            fresh.password_hash, password
        ):
            return None  # a new password since (a mere rehash by a parallel sign-in passes)
        if _hasher().check_needs_rehash(fresh.password_hash):
            fresh.password_hash = hash_password(password)
        fresh.last_login_at = now
        session.flush()
        auth_log.info("sign-in: account=%s address=%s", fresh.username, address)
        session.expunge(fresh)
        return fresh


def _refuse_if_locked(session: Session, keys: _Keys, now: dt.datetime) -> None:
    query = select(LoginThrottle.locked_until).where(col(LoginThrottle.key).in_(keys.both))
    locked = [until for until in session.exec(query) if until is not None and until > now]
    if locked:
        raise LockedOut(max(locked), now)


def _locked_rows(session: Session, keys: tuple[str, ...]) -> dict[str, LoginThrottle]:
    # Locked in key order (PostgreSQL locks rows after sorting them): in heap order, two
    # attempts could each hold one of the two rows and wait for the other (a deadlock).
    query = (
        select(LoginThrottle)
        .where(col(LoginThrottle.key).in_(keys))
        .order_by(col(LoginThrottle.key))
        .with_for_update()
    )
    return {row.key: row for row in session.exec(query)}


def _is_locked(row: LoginThrottle, now: dt.datetime) -> bool:
    return row.locked_until is not None and row.locked_until > now


def _count_failure(
    session: Session, keys: _Keys, now: dt.datetime, policy: ThrottlePolicy
) -> list[str]:
    """One more failure for the account name and the address; the keys it locks."""
    _ensure_rows(session, keys.both, now)
    limits = {keys.account: policy.account_failures, keys.address: policy.address_failures}
    locked = []
    for key, row in _locked_rows(session, keys.both).items():
        if row.window_start <= now - policy.window and not _is_locked(row, now):
            row.failures, row.window_start, row.locked_until = 0, now, None
        row.failures += 1
        if row.failures >= limits[key] and not _is_locked(row, now):
            row.locked_until = now + policy.lock
            locked.append(key)
    # Counters of quiet keys are worth nothing: keep the table as small as the traffic. Rows
    # another attempt holds are skipped (waiting on them could deadlock with that attempt).
    stale = (
        select(LoginThrottle.key)
        .where(
            col(LoginThrottle.window_start) < now - policy.window - policy.lock,
            col(LoginThrottle.key).not_in(keys.both),
        )
        .with_for_update(skip_locked=True)
    )
    session.execute(delete(LoginThrottle).where(col(LoginThrottle.key).in_(stale)))
    return locked


def _ensure_rows(session: Session, keys: tuple[str, ...], now: dt.datetime) -> None:
    from sqlalchemy.dialects import postgresql, sqlite

    dialect = session.get_bind().dialect.name
    insert: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table: Any = LoginThrottle.__table__  # type: ignore[attr-defined]
    rows = [{"key": key, "failures": 0, "window_start": now} for key in keys]
    # On SQLite this first write also takes the database's write lock, so the counters read
    # next cannot change under us; PostgreSQL locks the rows (FOR UPDATE).
    session.connection().execute(insert(table).on_conflict_do_nothing(), rows)


def _forgive(session: Session, keys: _Keys) -> None:
    """A successful sign-in: the account name starts afresh (the address does not: one
    account of its own must not let an address guess at the others)."""
    row = _locked_rows(session, (keys.account,)).get(keys.account)
    if row is not None:
        row.failures, row.locked_until = 0, None


def _log_failure(account: str | None, address: str, locked: list[str]) -> None:
    # An unknown name is not logged: it is often a password typed in the wrong field.
    shown = account or "(không có tài khoản này)"
    auth_log.warning("sign-in failed: account=%s address=%s", shown, address)
    for key in locked:
        subject = f"account={shown}" if key.startswith("account:") else f"address={address}"
        auth_log.warning("lock-out: %s after repeated failures", subject)


def hash_slots(count: int) -> threading.BoundedSemaphore:
    return threading.BoundedSemaphore(count)


# --- sessions: a row per signed-in browser ------------------------------------------------


def _token_id(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(session: Session, user: User, now: dt.datetime, lifetime: dt.timedelta) -> str:
    """A new session for ``user``; returns the token for the cookie (stored only hashed)."""
    assert user.id is not None
    session.execute(delete(WebSession).where(col(WebSession.expires_at) <= now))
    token = secrets.token_urlsafe(32)
    session.add(
        WebSession(id=_token_id(token), user_id=user.id, created_at=now, expires_at=now + lifetime)
    )
    session.flush()
    return token


def session_user(session: Session, token: str, now: dt.datetime) -> User | None:
    """The active user of a live session, else None (signed out, expired, disabled)."""
    row = session.get(WebSession, _token_id(token))
    if row is None or row.expires_at <= now:
        return None
    user = session.get(User, row.user_id)
    return user if user is not None and user.active else None


def end_session(session: Session, token: str) -> None:
    row = session.get(WebSession, _token_id(token))
    if row is not None:
        user = session.get(User, row.user_id)
        session.delete(row)
        auth_log.info("sign-out: account=%s", user.username if user else row.user_id)


def end_sessions_of(session: Session, user_id: int) -> int:
    """End every session of an account (new password, account disabled)."""
    result: Any = session.execute(delete(WebSession).where(col(WebSession.user_id) == user_id))
    return int(result.rowcount or 0)


def actor_name(user: User) -> str:
    """How an account is named in the activity history."""
    if user.display_name:
        return f"{user.display_name} ({user.username})"
    return user.username


def count_users(session: Session) -> int:
    return session.exec(select(func.count()).select_from(User)).one()


# --- permissions ------------------------------------------------------------------------


def allowed_actions(user: User, assignment: Assignment) -> frozenset[Action]:
    """The actions ``user`` may take on ``assignment`` (the state machine may still refuse)."""
    if not user.active:
        return frozenset()
    if user.role is UserRole.COORDINATOR:
        return COORDINATOR_ACTIONS
    if user.role is UserRole.DEPARTMENT and user.department_id == assignment.lead_department_id:
        return UNIT_ACTIONS
    return frozenset()


def may_download_evidence(session: Session, user: User, assignment: Assignment) -> bool:
    """Evidence may be internal papers: the units involved, the coordinator and leaders."""
    if not user.active:
        return False
    if user.role in (UserRole.COORDINATOR, UserRole.VIEWER):
        return True
    if user.department_id is None:
        return False
    if user.department_id == assignment.lead_department_id:
        return True
    cooperating = session.exec(
        select(AssignmentCooperator).where(
            AssignmentCooperator.assignment_id == assignment.id,
            AssignmentCooperator.department_id == user.department_id,
        )
    ).first()
    return cooperating is not None
