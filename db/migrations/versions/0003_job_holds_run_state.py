"""Job and run state in one place: status and times live on the job only, kind and config on
the run only; a run recorded without the queue gets a succeeded job.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 13:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

# Plain ALTER TABLE ... DROP COLUMN (SQLite >= 3.35 has it) rather than batch mode: rebuilding
# `runs` on SQLite would DROP it, and with foreign keys on that cascades into jobs and metrics.
RUN_STATE_COLUMNS = ('status', 'created_at', 'started_at', 'finished_at')
JOB_RUN_COLUMNS = ('kind', 'config')


def upgrade() -> None:
    # Runs recorded without a job (imports) get a finished one carrying their state.
    op.execute("INSERT INTO jobs (run_id, status, priority, attempts, max_attempts, cancel_requested, "
               "progress_step, progress_total, progress_message, log_tail, created_at, started_at, "
               "finished_at, eta_s, kind, config) "
               "SELECT runs.id, runs.status, 0, 0, 3, false, 0, 0, '', '', runs.created_at, "
               "runs.started_at, runs.finished_at, 0.0, runs.kind, runs.config FROM runs "
               "WHERE NOT EXISTS (SELECT 1 FROM jobs WHERE jobs.run_id = runs.id)")
    # The job was already the source of the status; keep a time only the run had.
    for column in ('started_at', 'finished_at'):
        op.execute(f"UPDATE jobs SET {column} = (SELECT runs.{column} FROM runs WHERE runs.id = jobs.run_id) "
                   f"WHERE {column} IS NULL AND status <> 'queued'")
    op.drop_index('ix_runs_status', table_name='runs')
    for column in RUN_STATE_COLUMNS:
        op.execute(f"ALTER TABLE runs DROP COLUMN {column}")
    for column in JOB_RUN_COLUMNS:
        op.execute(f"ALTER TABLE jobs DROP COLUMN {column}")


def downgrade() -> None:
    op.add_column('jobs', sa.Column('kind', sa.String(length=64), nullable=True))
    op.add_column('jobs', sa.Column('config', sa.JSON(), nullable=True))
    op.execute("UPDATE jobs SET kind = (SELECT runs.kind FROM runs WHERE runs.id = jobs.run_id), "
               "config = (SELECT runs.config FROM runs WHERE runs.id = jobs.run_id)")
    op.add_column('runs', sa.Column('status', sa.String(length=16), nullable=True))
    for column in ('created_at', 'started_at', 'finished_at'):
        op.add_column('runs', sa.Column(column, sa.DateTime(), nullable=True))
    op.execute("UPDATE runs SET status = (SELECT status FROM jobs WHERE jobs.run_id = runs.id), "
               "created_at = (SELECT created_at FROM jobs WHERE jobs.run_id = runs.id), "
               "started_at = (SELECT started_at FROM jobs WHERE jobs.run_id = runs.id), "
               "finished_at = (SELECT finished_at FROM jobs WHERE jobs.run_id = runs.id)")
    op.create_index('ix_runs_status', 'runs', ['status'], unique=False)
