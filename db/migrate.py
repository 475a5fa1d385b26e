"""Alembic migrations, applied on start-up under a lock so concurrent starts are safe.

The migration scripts live inside the package (db/migrations), so an installed package can
upgrade a database without a source checkout. Several workers and the dashboard may start at
the same moment: on PostgreSQL they serialise on an advisory lock, on SQLite on an exclusive
lock of a file next to the database; whoever comes second finds the schema at head and does
nothing.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, inspect, text

PACKAGE_DIR = Path(__file__).resolve().parent
ALEMBIC_INI = PACKAGE_DIR / "alembic.ini"
MIGRATIONS_DIR = PACKAGE_DIR / "migrations"
PG_ADVISORY_LOCK_KEY = 0x7A5E_0001  # arbitrary, constant: "taser schema migration"
# The newest revision in migrations/versions. Kept here so that a start-up against an up-to-date
# database needs one SELECT and no Alembic import; a test checks it against Alembic's own head.
SCHEMA_HEAD = "0005"


def alembic_config(url: str | None = None):
    from alembic.config import Config

    config = Config(str(ALEMBIC_INI))
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision() -> str:
    """The head according to Alembic's scripts (slow: imports Alembic)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(connection: Connection) -> str | None:
    if not inspect(connection).has_table("alembic_version"):
        return None
    return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def ensure_schema(engine: Engine) -> None:
    """Upgrade the database behind `engine` to the newest schema, once, whoever starts first."""
    with engine.connect() as connection:
        if current_revision(connection) == SCHEMA_HEAD:
            return
    from alembic import command

    with _migration_lock(engine):
        with engine.begin() as connection:
            if current_revision(connection) == SCHEMA_HEAD:
                return
            config = alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, "head")


@contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": PG_ADVISORY_LOCK_KEY})
            connection.commit()
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": PG_ADVISORY_LOCK_KEY})
                connection.commit()
    elif engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:"):
        lock_path = Path(f"{engine.url.database}.migrate.lock")
        with open(lock_path, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
    else:
        yield
