"""sip edge: media nodes and IP allow/deny lists

Revision ID: 0002
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

STATUS = sa.Enum('active', 'disabled', name='status', native_enum=False, length=24)


def upgrade() -> None:
    op.create_table('media_nodes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('host', sa.String(length=190), nullable=False),
    sa.Column('port', sa.Integer(), nullable=False),
    sa.Column('transport', sa.String(length=8), nullable=False),
    sa.Column('weight', sa.Integer(), nullable=False),
    sa.Column('status', STATUS, nullable=False),
    sa.Column('created_at', sa.DateTime(), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_media_nodes')),
    sa.UniqueConstraint('name', name=op.f('uq_media_nodes_name'))
    )
    op.create_table('ip_list_entries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('action', sa.Enum('allow', 'deny', name='iplistaction', native_enum=False, length=24), nullable=False),
    sa.Column('address', sa.String(length=64), nullable=False),
    sa.Column('mask', sa.Integer(), nullable=False),
    sa.Column('note', sa.String(length=255), nullable=True),
    sa.Column('created_at', sa.DateTime(), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ip_list_entries')),
    sa.UniqueConstraint('action', 'address', 'mask', name='uq_ip_list_entries_action_address')
    )


def downgrade() -> None:
    op.drop_table('ip_list_entries')
    op.drop_table('media_nodes')
