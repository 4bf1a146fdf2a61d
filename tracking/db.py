"""Database engine, sessions and schema migrations (Alembic)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import event, inspect, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.pool import NullPool
from sqlmodel import Session, create_engine

from tracking.private import create_private_file

MIGRATIONS = Path(__file__).parent / "migrations"


def _head_revision() -> str:
    # Revisions are numbered like their files (0001_…, 0002_…), so the newest is the largest
    # prefix: commands check the schema without importing Alembic. A test holds Alembic's own
    # head to this.
    return max(p.name.split("_", 1)[0] for p in (MIGRATIONS / "versions").glob("[0-9]*_*.py"))


HEAD_REVISION = _head_revision()


# Sync web routes run on AnyIO's worker threads (40 by default), each holding one connection
# for its whole request, a login through its argon2 check (~0.25 s of CPU). With SQLAlchemy's
# default pool (5 + 10) a burst of requests queued for a connection and failed with a 500
# after the 30 s pool timeout (200 simultaneous logins did it: tests/test_concurrency.py).
# Room for every thread: overflow connections are closed again once the burst is over.
POOL_OPTIONS: dict[str, int] = {"pool_size": 5, "max_overflow": 40}


@lru_cache(maxsize=8)
def get_engine(url: str) -> Engine:
    """One engine per URL per process; SQLite gets foreign keys, WAL and a busy timeout."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        in_file = bool(parsed.database) and parsed.database != ":memory:"
        if in_file:
            # 0600 before SQLite opens it (SQLite gives its -wal and -shm files the same).
            create_private_file(Path(str(parsed.database)))
        # An in-memory database has one connection per thread (no pool to size).
        options = POOL_OPTIONS if in_file else {}
        engine = create_engine(url, connect_args={"timeout": 30}, **options)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, **POOL_OPTIONS)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    # WAL lets the dashboard read while a sweep writes.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def default_engine() -> Engine:
    from tracking.settings import get_settings

    return get_engine(get_settings().resolved_database_url)


@contextmanager
def session_scope(engine: Engine | None = None) -> Iterator[Session]:
    """A session that commits when the block ends and rolls back on any error."""
    with Session(engine or default_engine(), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def migrate(engine: Engine | None = None) -> None:
    """Bring the schema to the newest revision (creates it on an empty database).

    All or nothing: every pending migration runs in one transaction, so a run killed at any
    point leaves the schema as it was and the next ``giaoviec init`` starts over cleanly.
    PostgreSQL has transactional DDL; on SQLite see :func:`_transactional_sqlite`.
    """
    from alembic import command
    from alembic.config import Config

    engine = engine or default_engine()
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    migrating = _transactional_sqlite(engine) or engine
    try:
        with migrating.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    finally:
        if migrating is not engine:
            migrating.dispose()


def _transactional_sqlite(engine: Engine) -> Engine | None:
    """An engine for migrating a SQLite file whose transactions include DDL, or None.

    Python's sqlite3 module (before 3.12's autocommit attribute) begins a transaction only
    before INSERT/UPDATE/DELETE and commits before anything else: every CREATE TABLE of a
    migration was committed on its own, and a killed `giaoviec init` left some tables and an
    empty alembic_version that no later init could get past ("table … already exists").
    SQLAlchemy's documented remedy: the driver does no transaction handling at all
    (``isolation_level=None``) and the engine says BEGIN itself, here BEGIN IMMEDIATE so the
    migration holds the write lock from its first statement. Only this short-lived engine
    works so; the application's engine keeps the driver's usual behaviour.
    """
    if engine.dialect.name != "sqlite":
        return None
    database = engine.url.database
    if not database or database == ":memory:":
        return None  # one connection's own database: no other connection could see it
    migrating = create_engine(engine.url, poolclass=NullPool, connect_args={"timeout": 30})

    def _connect(dbapi_connection: Any, record: Any) -> None:
        dbapi_connection.isolation_level = None
        _sqlite_pragmas(dbapi_connection, record)

    def _begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    event.listen(migrating, "connect", _connect)
    event.listen(migrating, "begin", _begin)
    return migrating


def schema_revision(engine: Engine | None = None) -> str | None:
    """The revision the database is at, or None for a database never migrated."""
    from alembic.runtime.migration import MigrationContext

    with (engine or default_engine()).connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def schema_state(engine: Engine | None = None) -> str:
    """ "missing" (never initialised), "outdated" (needs `giaoviec init`) or "current"."""
    engine = engine or default_engine()
    if not inspect(engine).has_table("alembic_version"):
        return "missing"
    with engine.connect() as connection:
        found = connection.execute(text("SELECT version_num FROM alembic_version")).scalars()
        return "current" if HEAD_REVISION in set(found) else "outdated"
