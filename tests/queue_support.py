"""Helpers shared by the queue and worker tests: real databases, real worker processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
POSTGRES_URL = os.environ.get("TASER_TEST_POSTGRES_URL",
                              "postgresql+psycopg://postgres@127.0.0.1:5432/test")
# Databases a test creates for itself are named PREFIX + random hex (one checkout's tests can be
# told apart from another's on a shared server).
TEST_DATABASE_PREFIX = os.environ.get("TASER_TEST_DATABASE_PREFIX", "taser_test_")
# A port nothing listens on: connections are refused at once, with or without a server.
UNREACHABLE_URL = "postgresql+psycopg://postgres@127.0.0.1:1/taser_nowhere"


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'taser.db'}"


def postgres_schema_url():
    """A URL to a fresh schema in the test PostgreSQL database, and a function dropping it.

    Skips the test, saying why, when no server is reachable.
    """
    import sqlalchemy as sa

    admin = sa.create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
    try:
        with admin.begin() as connection:
            schema = f"taser_test_{uuid.uuid4().hex[:10]}"
            connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # noqa: BLE001 - any connection problem means "not reachable"
        admin.dispose()
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL} ({type(exc).__name__}: "
                    f"{str(exc).splitlines()[0] if str(exc) else ''}); set TASER_TEST_POSTGRES_URL")
    separator = "&" if "?" in POSTGRES_URL else "?"
    url = f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"

    def drop() -> None:
        from db.session import dispose_engines

        dispose_engines()
        with admin.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    return url, drop


class PostgresDatabase:
    """A database of its own on the test server, which a test can take away and give back.

    An outage as an operator sees one: `block()` stops new connections to it and terminates the
    open ones (from an admin connection to the `postgres` database), `allow()` lets them in again.
    Skips the test when no server is reachable or the role may not create databases.
    """

    def __init__(self, create: bool = True) -> None:
        import sqlalchemy as sa
        from sqlalchemy.engine import make_url

        self.name = f"{TEST_DATABASE_PREFIX}{uuid.uuid4().hex[:10]}"
        server = make_url(POSTGRES_URL)
        self.url = server.set(database=self.name).render_as_string(hide_password=False)
        self._admin = sa.create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT",
                                       connect_args={"connect_timeout": 3})
        try:
            self._execute("SELECT 1")
            if create:
                self.create()
        except Exception as exc:  # noqa: BLE001 - no server, or no right to create databases
            self._admin.dispose()
            pytest.skip(f"cannot create a PostgreSQL database at {POSTGRES_URL} ({type(exc).__name__}: "
                        f"{str(exc).splitlines()[0] if str(exc) else ''}); set TASER_TEST_POSTGRES_URL")

    def _execute(self, statement: str, **params) -> None:
        import sqlalchemy as sa

        with self._admin.connect() as connection:
            connection.execute(sa.text(statement), params)

    def create(self) -> None:
        self._execute(f'CREATE DATABASE "{self.name}"')

    def block(self) -> None:
        self._execute(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS false')
        self._execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                      "WHERE datname = :name AND pid <> pg_backend_pid()", name=self.name)

    def allow(self) -> None:
        self._execute(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS true')

    def drop(self) -> None:
        from db.session import dispose_engines

        dispose_engines()
        self._execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        self._admin.dispose()


def cli_env(url: str, artifact_root: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["TASER_DATABASE_URL"] = url
    env["TASER_ARTIFACT_ROOT"] = str(artifact_root)
    return env


def taser(args: list[str], env: dict[str, str], check: bool = True, cwd=None):
    """Run the `taser` CLI in its own process; returns the CompletedProcess."""
    result = subprocess.run([sys.executable, "-m", "app.cli", *args], env=env, cwd=cwd,
                            capture_output=True, text=True, timeout=120)
    if check and result.returncode != 0:
        raise AssertionError(f"taser {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
    return result


def start_worker(env: dict[str, str], *args: str, log: Path) -> subprocess.Popen:
    handle = open(log, "ab")
    return subprocess.Popen([sys.executable, "-m", "app.cli", "worker", *args], env=env,
                            stdout=handle, stderr=subprocess.STDOUT, cwd=REPO_ROOT)


def wait_for(predicate, timeout_s: float, what: str, interval_s: float = 0.05):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")


def database_url_fixture(name: str, postgres_marks=pytest.mark.postgres):
    """A fixture `name`: a fresh database URL, once on SQLite and once on a PostgreSQL schema of
    its own (that case marked `postgres_marks`). Test files whose PostgreSQL case is slow make
    their own with other marks; the URLs are the same."""

    @pytest.fixture(name=name, params=["sqlite", pytest.param("postgresql", marks=postgres_marks)])
    def database_url(request, tmp_path):
        if request.param == "sqlite":
            from db.session import dispose_engines

            yield sqlite_url(tmp_path)
            dispose_engines()
            return
        url, drop = postgres_schema_url()
        yield url
        drop()

    return database_url


sqlite_or_postgres_url = database_url_fixture("sqlite_or_postgres_url")
