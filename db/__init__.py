"""db: persistence of TASER Studio with SQLAlchemy 2. Knows nothing of Streamlit or training.

Other packages import only `db.store` (`from db import store`), the facade over:

- `db.entities`: the plain records the store returns (frozen dataclasses, never ORM rows).
- `db.queue`: the job queue's state machine (submit, claim, heartbeat, finish, retry, reap, ...).
- `db.tracking`: run writes (metric points, artifacts, evaluations, notes, tags).
- `db.reads`: every read, for the dashboard, the CLI and the worker.

Inside `db/`: `db.models` (the schema, ORM rows), `db.session` (engines and sessions from
`TASER_DATABASE_URL`, default SQLite ./var/taser.db), `db.migrate` (Alembic migrations shipped in
the package, applied on start-up under a lock).
"""
