"""Shared fixtures: one real database per test session (SQLite file or PostgreSQL).

``GIAOVIEC_DATABASE_URL`` picks the database, as it does for the application; unset, each
run gets a fresh SQLite file. The schema is built by the real migrations, and every test
starts from empty tables.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import MetaData, text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from tracking import db
from tracking.settings import get_settings

REPO = Path(__file__).resolve().parents[1]
BUILTIN_PLAN = REPO / "plans" / "an-giang-2024-hoi-nghi-thi-dua.yaml"
# The project's top-level packages (docs/architecture.md): what the room tests look at.
ROOMS = (
    "models",
    "tracking",
    "importer",
    "notifications",
    "services",
    "tasks",
    "flows",
    "cli",
    "web",
)

# Children before parents, so deleting in this order never trips a foreign key.
TABLES = [
    "login_throttle",
    "web_sessions",
    "used_links",
    "users",
    "outbox",
    "activity",
    "assignment_cooperator",
    "dependency",
    "assignment",
    "contact",
    "plan",
    "department",
    "calendar_override",
    "delivery_alert",
]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--soak",
        action="store_true",
        default=False,
        help="run the long reliability variants (many more kills, clients and fuzz cases)",
    )


def on_postgresql() -> bool:
    return os.environ.get("GIAOVIEC_DATABASE_URL", "").startswith("postgresql")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On PostgreSQL, run only the tests whose outcome can depend on the database.

    CI runs the suite twice, on SQLite then on PostgreSQL. A test that never asks for the
    database (calendar, importer, plan-file parsing, templates) or that is marked
    ``db_agnostic`` (a page's layout in a browser) proves nothing new the second time, so the
    PostgreSQL pass deselects it; pytest's summary counts them as "deselected".
    """
    if not on_postgresql():
        return
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        uses_database = "database_url" in getattr(item, "fixturenames", ())
        if uses_database and item.get_closest_marker("db_agnostic") is None:
            kept.append(item)
        else:
            dropped.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.fixture(scope="session")
def soak(request: pytest.FixtureRequest) -> bool:
    """True under ``--soak``: reliability tests scale their loops up (CI runs without it)."""
    return bool(request.config.getoption("--soak"))


def drop_everything(engine: Engine) -> None:
    meta = MetaData()
    meta.reflect(engine)
    meta.drop_all(engine)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = os.environ.get("GIAOVIEC_DATABASE_URL")
    if not url:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'giaoviec-test.db'}"
    return url


@pytest.fixture(scope="session")
def engine(database_url: str) -> Engine:
    engine = db.get_engine(database_url)
    drop_everything(engine)
    db.migrate(engine)
    return engine


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str) -> Iterator[Path]:
    """GIAOVIEC_HOME and the database URL as a command run by the user would see them."""
    folder = tmp_path / "home"
    folder.mkdir()
    monkeypatch.setenv("GIAOVIEC_HOME", str(folder))
    monkeypatch.setenv("GIAOVIEC_DATABASE_URL", database_url)
    monkeypatch.delenv("GIAOVIEC_TODAY", raising=False)
    monkeypatch.setenv("GIAOVIEC_USER", "kiem-thu")
    get_settings.cache_clear()
    yield folder
    get_settings.cache_clear()


def cli_env(home: Path, database_url: str, **extra: str) -> dict[str, str]:
    """The environment a user's ``giaoviec`` command would see here, plus ``extra``."""
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "GIAOVIEC_HOME": str(home),
        "GIAOVIEC_DATABASE_URL": database_url,
        **extra,
    }
    env.pop("GIAOVIEC_TODAY", None)  # a command under test says which day it is
    return env


def empty_tables(engine: Engine) -> None:
    """Every table emptied, children first (each test starts from this)."""
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
        else:
            for table in TABLES:
                connection.execute(text(f"DELETE FROM {table}"))


@pytest.fixture
def clean_engine(engine: Engine, home: Path) -> Engine:
    empty_tables(engine)
    return engine


@pytest.fixture
def session(clean_engine: Engine) -> Iterator[Session]:
    with Session(clean_engine, expire_on_commit=False) as s:
        yield s
