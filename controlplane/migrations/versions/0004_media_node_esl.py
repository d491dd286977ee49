"""media nodes: inbound ESL address and password

Revision ID: 0004
Revises: 0003
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL esl_host: the node's SIP host.
    op.add_column('media_nodes', sa.Column('esl_host', sa.String(length=190), nullable=True))
    op.add_column('media_nodes', sa.Column('esl_port', sa.Integer(), server_default='8021', nullable=False))
    # Stored in cleartext on purpose: FreeSWITCH's ESL authenticates with the password itself
    # (`auth <password>`), so the controller must send it as given; a hash would be useless.
    op.add_column('media_nodes', sa.Column('esl_password', sa.String(length=128), nullable=True))


def downgrade() -> None:
    op.drop_column('media_nodes', 'esl_password')
    op.drop_column('media_nodes', 'esl_port')
    op.drop_column('media_nodes', 'esl_host')
