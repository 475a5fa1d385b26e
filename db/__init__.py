"""db: persistence of TASER Studio with SQLAlchemy 2. Knows nothing of Streamlit or training.

- `db.models`: the schema (runs, jobs, metrics, evaluations, artifacts).
- `db.session`: engine and sessions from `TASER_DATABASE_URL` (default SQLite ./var/taser.db).
- `db.migrate`: Alembic migrations shipped in the package, applied on start-up under a lock.
- `db.queue`: the job queue and the write side of run tracking (metrics, artifacts, evaluations).
- `db.queries`: read-side queries for the dashboard and the CLI.
"""
