"""Tables of the web interface: user accounts and the signed action links already used.

Kept apart from ``models.tables`` so the web's accounts can evolve without touching the
engine's tables; ``tracking/migrations/env.py`` imports both.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlmodel import Field, SQLModel

from models.tables import _enum_column, _utc_column, utcnow


class UserRole(StrEnum):
    """What an account may do (see ``tracking.accounts``)."""

    COORDINATOR = "coordinator"  # Ban Thi đua - Khen thưởng: every action on every assignment
    DEPARTMENT = "department"  # a unit's officer: acts on its own unit's assignments
    VIEWER = "viewer"  # a leader who only reads


class User(SQLModel, table=True):
    """A person who signs in to the web pages."""

    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, unique=True, index=True)
    display_name: str | None = Field(default=None, max_length=200)
    password_hash: str = Field(max_length=255)  # argon2id, in PHC string form
    role: UserRole = Field(sa_column=_enum_column(UserRole))
    department_id: int | None = Field(default=None, foreign_key="department.id", index=True)
    active: bool = True
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=_utc_column(False))
    last_login_at: dt.datetime | None = Field(default=None, sa_column=_utc_column())


class UsedLink(SQLModel, table=True):
    """A signed action link that has done its action: the primary key makes it single-use."""

    __tablename__ = "used_links"

    nonce: str = Field(primary_key=True, max_length=64)
    assignment_id: int = Field(foreign_key="assignment.id", index=True)
    contact_id: int = Field(foreign_key="contact.id")
    action: str = Field(max_length=20)
    used_at: dt.datetime = Field(default_factory=utcnow, sa_column=_utc_column(False))
    expires_at: dt.datetime = Field(sa_column=_utc_column(False))  # rows past this may go


class WebSession(SQLModel, table=True):
    """A signed-in browser. The cookie holds a random token; this row is what makes it valid.

    Kept in the database (not only in the signed cookie) so that signing out, disabling an
    account or changing its password ends the session for every process at once, and a copied
    cookie is worth nothing once its row is gone. Only the token's SHA-256 is stored: reading
    this table does not let anyone sign in.
    """

    __tablename__ = "web_sessions"

    id: str = Field(primary_key=True, max_length=64)  # sha256 hex of the cookie's token
    user_id: int = Field(foreign_key="users.id", index=True)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=_utc_column(False))
    # Absolute: using the session does not extend it.
    expires_at: dt.datetime = Field(sa_column=_utc_column(False))


class LoginThrottle(SQLModel, table=True):
    """Failed sign-ins counted per account name and per client address, shared by every web
    process; a key over its limit is locked until ``locked_until``."""

    __tablename__ = "login_throttle"

    key: str = Field(primary_key=True, max_length=120)  # "account:<name>" or "address:<ip>"
    failures: int = 0
    window_start: dt.datetime = Field(sa_column=_utc_column(False))
    locked_until: dt.datetime | None = Field(default=None, sa_column=_utc_column())
