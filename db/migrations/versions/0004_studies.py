"""Studies: a named grid of runs; each run may belong to one study under a plan key.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 13:20:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('studies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('preset', sa.String(length=64), nullable=True),
    sa.Column('spec', sa.JSON(), nullable=False),
    sa.Column('plan', sa.JSON(), nullable=False),
    sa.Column('cancelled', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    # Plain ADD COLUMN, not a batch rebuild of `runs`: rebuilding it on SQLite would cascade-delete
    # every job, metric and evaluation of the runs (see 0003). A unique index stands for the
    # unique constraint, which SQLite cannot add to an existing table.
    if op.get_bind().dialect.name == 'sqlite':  # SQLite takes the reference only inline
        op.execute("ALTER TABLE runs ADD COLUMN study_id INTEGER REFERENCES studies (id) ON DELETE SET NULL")
    else:
        op.add_column('runs', sa.Column('study_id', sa.Integer(), nullable=True))
        op.create_foreign_key('fk_runs_study_id', 'runs', 'studies', ['study_id'], ['id'], ondelete='SET NULL')
    op.add_column('runs', sa.Column('study_key', sa.String(length=500), nullable=True))
    op.create_index('ix_runs_study_id', 'runs', ['study_id'], unique=False)
    op.create_index('uq_runs_study_key', 'runs', ['study_id', 'study_key'], unique=True)


def downgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        # SQLite cannot drop a column that references another table, and rebuilding `runs` would
        # cascade-delete its jobs: restore a backup taken before the upgrade instead
        raise NotImplementedError("downgrading a SQLite database below 0004 is not supported")
    op.drop_index('uq_runs_study_key', table_name='runs')
    op.drop_index('ix_runs_study_id', table_name='runs')
    op.drop_constraint('fk_runs_study_id', 'runs', type_='foreignkey')
    op.drop_column('runs', 'study_key')
    op.drop_column('runs', 'study_id')
    op.drop_table('studies')
