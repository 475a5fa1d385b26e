"""Archived runs: a run may be hidden from tables and results without losing it.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 19:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN, not a batch rebuild of `runs` (rebuilding it on SQLite cascades into its
    # jobs and metrics, see 0003).
    op.add_column('runs', sa.Column('archived_at', sa.DateTime(), nullable=True))


def downgrade() -> None:
    op.execute("ALTER TABLE runs DROP COLUMN archived_at")
