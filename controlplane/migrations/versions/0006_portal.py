"""Portal: a user's email is verified before it can log in (sign-up); the last login is shown to the user

Revision ID: 0006
Revises: 0005
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('users', sa.Column('email_verified_at', sa.DateTime(), nullable=True))
    op.add_column('users', sa.Column('last_login_at', sa.DateTime(), nullable=True))
    # Users made before sign-up existed were made by an operator or a reseller: their address counts as known.
    op.execute("UPDATE users SET email_verified_at = created_at")


def downgrade() -> None:
    op.drop_column('users', 'last_login_at')
    op.drop_column('users', 'email_verified_at')
