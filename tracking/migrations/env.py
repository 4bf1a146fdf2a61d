"""Alembic environment: runs on the connection ``tracking.db.migrate`` hands over."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import models.tables
import models.web_tables  # noqa: F401

target_metadata = SQLModel.metadata


def run() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations through tracking.db.migrate() or `giaoviec init`")
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite cannot ALTER much
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run()
