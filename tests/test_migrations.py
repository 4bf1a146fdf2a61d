"""The Alembic migrations build exactly the schema the models describe."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

import models.tables
import models.web_tables  # noqa: F401
from tracking import db


def test_migrated_schema_matches_the_models(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diff = compare_metadata(context, SQLModel.metadata)
    assert diff == []


def test_database_is_at_the_newest_revision(engine: Engine) -> None:
    from alembic.script import ScriptDirectory

    heads = ScriptDirectory(str(db.MIGRATIONS)).get_heads()
    assert heads == [db.HEAD_REVISION]
    assert db.schema_revision(engine) == heads[0]
    assert db.schema_state(engine) == "current"


def test_migrating_again_is_harmless(engine: Engine) -> None:
    before = db.schema_revision(engine)
    db.migrate(engine)
    assert db.schema_revision(engine) == before


def test_an_older_schema_is_reported_as_outdated(tmp_path: Path) -> None:
    from alembic import command
    from alembic.config import Config

    old = db.get_engine(f"sqlite:///{tmp_path / 'cu.db'}")
    assert db.schema_state(old) == "missing"
    config = Config()
    config.set_main_option("script_location", str(db.MIGRATIONS))
    with old.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
    assert db.schema_state(old) == "outdated"
    db.migrate(old)
    assert db.schema_state(old) == "current"
