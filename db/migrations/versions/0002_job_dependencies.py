"""Job dependencies: a queued job may wait for several runs, not just its parent.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 03:10:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('job_dependencies',
    sa.Column('job_id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['job_id'], ['jobs.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('job_id', 'run_id')
    )
    op.create_index(op.f('ix_job_dependencies_run_id'), 'job_dependencies', ['run_id'], unique=False)
    # Jobs queued before this revision waited for their run's parent: keep that as a dependency.
    op.execute("INSERT INTO job_dependencies (job_id, run_id) "
               "SELECT jobs.id, runs.parent_run_id FROM jobs JOIN runs ON runs.id = jobs.run_id "
               "WHERE runs.parent_run_id IS NOT NULL")


def downgrade() -> None:
    op.drop_index(op.f('ix_job_dependencies_run_id'), table_name='job_dependencies')
    op.drop_table('job_dependencies')
