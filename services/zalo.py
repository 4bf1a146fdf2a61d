"""Zalo Official Account set-up: the first access/refresh token pair, stored for the sender."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

from models.errors import InvalidInput
from notifications.zalo import FileTokenStore, TokenPair
from tracking.clock import now_utc


@dataclasses.dataclass(frozen=True)
class StoredToken:
    folder: Path
    expires_at: dt.datetime


def set_token(text: str, expires_in: int, home: Path) -> StoredToken:
    """Store the pair given as two non-empty lines (access token, then refresh token).

    The tokens come as text, never as arguments, so they appear in no shell history or
    process list; they are kept under ``home``/zalo, readable by the service account only.
    """
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) != 2:
        raise InvalidInput("Cần đúng hai dòng: access token rồi refresh token.")
    expires_at = now_utc() + dt.timedelta(seconds=expires_in)
    folder = home / "zalo"
    FileTokenStore(folder).seed(TokenPair(lines[0], lines[1], expires_at))
    return StoredToken(folder, expires_at)
