"""REST API: named, scoped, expiring API keys; a normal user's own SIP account; idempotent money writes

Revision ID: 0005
Revises: 0004
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('api_keys', sa.Column('name', sa.String(length=128), server_default='', nullable=False))
    op.add_column('api_keys', sa.Column('expires_at', sa.DateTime(), nullable=True))
    # Space-separated addresses or CIDR networks the key may be used from; empty: anywhere.
    op.add_column('api_keys', sa.Column('allowed_ips', sa.String(length=1024), server_default='', nullable=False))
    op.add_column('api_keys', sa.Column('revoked_at', sa.DateTime(), nullable=True))
    op.add_column('users', sa.Column('sip_account_id', sa.Integer(), nullable=True))
    op.create_foreign_key(op.f('fk_users_sip_account_id_sip_accounts'), 'users', 'sip_accounts',
                          ['sip_account_id'], ['id'])
    op.create_table('idempotency_keys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('owner', sa.String(length=190), nullable=False),
    sa.Column('key', sa.String(length=128), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('status', sa.Integer(), nullable=False),
    sa.Column('body', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_idempotency_keys')),
    sa.UniqueConstraint('owner', 'key', name='uq_idempotency_keys_owner_key')
    )
    # A tenant's CDRs by time, then id: the API's filtered, cursor-paged listing walks this index.
    op.create_index('ix_cdrs_tenant_start_id', 'cdrs', ['tenant_id', 'start_at', 'id'])
    # Covers a tenant's totals for a period: no row is read.
    op.create_index('ix_cdrs_tenant_start_totals', 'cdrs', ['tenant_id', 'start_at', 'billsec', 'cost', 'buy_cost'])


def downgrade() -> None:
    op.drop_index('ix_cdrs_tenant_start_totals', table_name='cdrs')
    op.drop_index('ix_cdrs_tenant_start_id', table_name='cdrs')
    op.drop_table('idempotency_keys')
    op.drop_constraint(op.f('fk_users_sip_account_id_sip_accounts'), 'users', type_='foreignkey')
    op.drop_column('users', 'sip_account_id')
    op.drop_column('api_keys', 'revoked_at')
    op.drop_column('api_keys', 'allowed_ips')
    op.drop_column('api_keys', 'expires_at')
    op.drop_column('api_keys', 'name')
