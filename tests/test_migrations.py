"""The Alembic migrations build exactly the schema the models describe."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

import models.tables  # noqa: F401  (registers the tables)
from tracking import db


def test_migrated_schema_matches_the_models(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diff = compare_metadata(context, SQLModel.metadata)
    assert diff == []


def test_database_is_at_the_newest_revision(engine: Engine) -> None:
    from alembic.script import ScriptDirectory

    heads = ScriptDirectory(str(db.MIGRATIONS)).get_heads()
    assert len(heads) == 1
    assert db.schema_revision(engine) == heads[0]


def test_migrating_again_is_harmless(engine: Engine) -> None:
    before = db.schema_revision(engine)
    db.migrate(engine)
    assert db.schema_revision(engine) == before
