"""Studies: a named grid of runs; each run may belong to one study under a plan key.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 13:20:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0002'
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
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('study_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('study_key', sa.String(length=500), nullable=True))
        batch_op.create_index(batch_op.f('ix_runs_study_id'), ['study_id'], unique=False)
        batch_op.create_unique_constraint('uq_runs_study_key', ['study_id', 'study_key'])
        batch_op.create_foreign_key('fk_runs_study_id', 'studies', ['study_id'], ['id'], ondelete='SET NULL')


def downgrade() -> None:
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.drop_constraint('fk_runs_study_id', type_='foreignkey')
        batch_op.drop_constraint('uq_runs_study_key', type_='unique')
        batch_op.drop_index(batch_op.f('ix_runs_study_id'))
        batch_op.drop_column('study_key')
        batch_op.drop_column('study_id')
    op.drop_table('studies')
