"""Engine and session setup from `TASER_DATABASE_URL`, and schema creation on start-up.

Default: SQLite at ./var/taser.db in WAL mode with a busy timeout and foreign keys on, so the
dashboard reads while workers write. Write transactions on SQLite start with BEGIN IMMEDIATE:
the write lock is taken up front (waiting up to the busy timeout) instead of failing when a
deferred read transaction tries to upgrade after another writer committed. PostgreSQL is used
as is; the queue claims rows there with FOR UPDATE SKIP LOCKED.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

DEFAULT_DATABASE_URL = "sqlite:///var/taser.db"
SQLITE_BUSY_TIMEOUT_MS = 30_000

_engines: dict[str, Engine] = {}


def database_url() -> str:
    return os.environ.get("TASER_DATABASE_URL") or DEFAULT_DATABASE_URL


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def get_engine(url: str | None = None) -> Engine:
    """The process-wide engine for `url` (default: `TASER_DATABASE_URL`); schema is ensured."""
    url = url or database_url()
    engine = _engines.get(url)
    if engine is None:
        engine = _create_engine(url)
        _engines[url] = engine
        from db.migrate import ensure_schema  # here to keep the import graph one-way

        ensure_schema(engine)
    return engine


def _create_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
    _configure_sqlite(engine)
    return engine


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection, _record):
        # Let SQLAlchemy's "begin" event emit BEGIN itself (pysqlite's own handling is broken).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection):
        mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")


@contextmanager
def write_session(url: str | None = None) -> Iterator[Session]:
    """A transaction that writes: committed on success, rolled back on error."""
    engine = get_engine(url)
    if is_sqlite(engine):
        engine = engine.execution_options(sqlite_begin="IMMEDIATE")
    with sessionmaker(engine, expire_on_commit=False).begin() as session:
        yield session


@contextmanager
def read_session(url: str | None = None) -> Iterator[Session]:
    """A read-only transaction; returned ORM objects stay usable after it closes."""
    with sessionmaker(get_engine(url), expire_on_commit=False)() as session:
        yield session


def dispose_engines() -> None:
    """Close every pooled connection (tests; a process about to fork)."""
    for engine in _engines.values():
        engine.dispose()
    _engines.clear()
