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

import hashlib
import re
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func
from sqlmodel import Session, col, select

from models.tables import Assignment, AssignmentCooperator
from models.web_tables import User, UserRole
from tracking import clock, store
from tracking.status import Action

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
            raise store.InvalidAction("Tài khoản đơn vị cần mã đơn vị (--department).")
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
    return user


def set_active(session: Session, username: str, active: bool) -> User:
    user = get_user(session, username)
    user.active = active
    return user


def authenticate(session: Session, username: str, password: str) -> User | None:
    """The active user with this name and password, else None.

    An unknown name still costs one argon2 verification, so the answer time does not tell
    which names exist.
    """
    # PostgreSQL refuses NUL in a query parameter; no account name can hold one anyway.
    user = (
        None
        if "\x00" in username
        else session.exec(select(User).where(User.username == username.strip().lower())).first()
    )
    if user is None or not user.active:
        verify_password(_dummy_hash(), password)
        return None
    if not verify_password(user.password_hash, password):
        return None
    if _hasher().check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = clock.now_utc()
    return user


def session_fingerprint(user: User) -> str:
    """Stored in the session cookie: changes with the password, ending the old sessions."""
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:16]


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
