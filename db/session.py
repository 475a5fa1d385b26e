"""Engine and session setup from `TASER_DATABASE_URL`, and schema creation on start-up.

Default: SQLite at ./var/taser.db in WAL mode with a busy timeout and foreign keys on, so the
dashboard reads while workers write. Write transactions on SQLite start with BEGIN IMMEDIATE:
the write lock is taken up front (waiting up to the busy timeout) instead of failing when a
deferred read transaction tries to upgrade after another writer committed. PostgreSQL is used
as is (connections time out after PG_CONNECT_TIMEOUT_S, so a server that does not answer fails a
call instead of hanging it); the queue claims rows there with FOR UPDATE SKIP LOCKED.

`is_unavailable(exc)` tells a database that is away (refusing connections, restarting, locked)
from a bug, so that callers can wait and retry the one and report the other.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

DEFAULT_DATABASE_URL = "sqlite:///var/taser.db"
SQLITE_BUSY_TIMEOUT_MS = 30_000
PG_CONNECT_TIMEOUT_S = 10

_engines: dict[str, Engine] = {}


def database_url() -> str:
    return os.environ.get("TASER_DATABASE_URL") or DEFAULT_DATABASE_URL


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def describe(url: str | None = None) -> str:
    """Where the database is, for messages: host:port/name, or the SQLite file; no password."""
    parsed = make_url(url or database_url())
    if parsed.get_backend_name() == "sqlite":
        return parsed.database or ":memory:"
    host = parsed.host or "localhost"
    port = f":{parsed.port}" if parsed.port else ""
    return f"{host}{port}/{parsed.database or ''}"


class DatabaseUnavailableError(Exception):
    """The database stayed away longer than a caller was willing to wait; the message says so."""


def is_unavailable(exc: BaseException) -> bool:
    """True when `exc` says the database is away (down, restarting, refusing connections, locked
    past the busy timeout), not that a statement is wrong: worth waiting for and retrying."""
    if isinstance(exc, (OperationalError, InterfaceError, DisconnectionError)):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def first_line(exc: BaseException) -> str:
    """The driver's own one-line account of a database error (without SQLAlchemy's footer)."""
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def get_engine(url: str | None = None) -> Engine:
    """The process-wide engine for `url` (default: `TASER_DATABASE_URL`); schema is ensured.

    The engine is kept only once the schema check succeeded, so a call made while the database
    was away is simply repeated by the next one.
    """
    url = url or database_url()
    engine = _engines.get(url)
    if engine is None:
        engine = _create_engine(url)
        from db.migrate import ensure_schema  # here to keep the import graph one-way

        try:
            ensure_schema(engine)
        except BaseException:
            engine.dispose()
            raise
        _engines[url] = engine
    return engine


def _create_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        connect_args = {}
        if parsed.get_backend_name() == "postgresql" and "connect_timeout" not in parsed.query:
            connect_args["connect_timeout"] = PG_CONNECT_TIMEOUT_S
        return create_engine(url, pool_pre_ping=True, connect_args=connect_args)
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
