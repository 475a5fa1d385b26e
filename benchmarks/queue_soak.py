"""Queue soak: N workers × M noop jobs on SQLite and on PostgreSQL; every job must run exactly once.

    python benchmarks/queue_soak.py [--workers 4] [--jobs 200] [--backend sqlite --backend postgresql]
                                    [--postgres-admin-url URL] [--json benchmarks/results/queue_soak.json]

Per backend it drains M jobs with N `taser worker --once` processes (`queue_throughput.drain`)
into a fresh database (a SQLite file; on PostgreSQL a database it creates and drops, through
`--postgres-admin-url`), then counts from the database and the job logs:
- `ran_once`: succeeded, claimed once (`attempts == 1`) and one attempt header in its log;
- `lost`: not succeeded (still queued or running, or failed);
- `duplicated`: a job whose process ran more than once.
Reports jobs/s (bound by the start-up of one spawned Python process per job) and CPU seconds
per job. Timings are reported, never asserted; the counts are what the soak is for.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import uuid
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "benchmarks"))

from queue_throughput import drain  # noqa: E402

from db import store  # noqa: E402
from db.session import dispose_engines  # noqa: E402

DEFAULT_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def soak(url: str, root: Path, jobs: int, workers: int) -> dict:
    env = dict(os.environ, TASER_DATABASE_URL=url, TASER_ARTIFACT_ROOT=str(root),
               PYTHONPATH=str(REPO_ROOT))
    timing = drain(url, env, jobs, workers)
    finished = store.list_jobs(limit=jobs + 10, url=url)
    runs = [_runs_of(root, job) for job in finished]
    counts = {
        "submitted": jobs,
        "succeeded": sum(job.status == "succeeded" for job in finished),
        "ran_once": sum(job.status == "succeeded" and job.attempts == 1 and ran == 1
                        for job, ran in zip(finished, runs)),
        "lost": jobs - sum(job.status == "succeeded" for job in finished),
        "duplicated": sum(ran > 1 for ran in runs),
        "workers_that_took_work": len({job.worker_id for job in finished}),
    }
    dispose_engines()
    return {**timing, **counts}


def _runs_of(root: Path, job) -> int:
    """How many times the job's process started: attempt headers in its log."""
    log = root / "runs" / str(job.run_id) / "job.log"
    return log.read_text().count(f"--- job {job.id} (noop) attempt") if log.exists() else 0


def postgres_database(admin_url: str, prefix: str):
    """(url of a fresh database, drop function), or (None, reason) when the server is away."""
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    name = f"{prefix}{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    try:
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001 - no server: report it, soak the other backend
        admin.dispose()
        return None, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"

    def drop() -> None:
        dispose_engines()
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    return url, drop


def soak_backend(backend: str, args) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "artifacts"
        if backend == "sqlite":
            return soak(f"sqlite:///{tmp}/soak.db", root, args.jobs, args.workers)
        url, drop = postgres_database(args.postgres_admin_url, args.database_prefix)
        if url is None:
            return {"skipped": drop}
        try:
            return soak(url, root, args.jobs, args.workers)
        finally:
            drop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--backend", action="append", choices=["sqlite", "postgresql"],
                        help="repeatable (default: both)")
    parser.add_argument("--postgres-admin-url", default=DEFAULT_ADMIN_URL,
                        help="a role that may create databases (default: %(default)s)")
    parser.add_argument("--database-prefix", default="taser_soak_",
                        help="name prefix of the PostgreSQL database the soak creates")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results = []
    for backend in args.backend or ["sqlite", "postgresql"]:
        results.append({"database": backend, **soak_backend(backend, args)})
        print(json.dumps(results[-1]), flush=True)
    report = {"benchmark": "queue_soak", "workers": args.workers, "jobs": args.jobs,
              "cpu_count": os.cpu_count(), "load_average_1min": os.getloadavg()[0], "results": results}
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
