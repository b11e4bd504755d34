"""Users' exchange API keys; the secret column holds AES-GCM sealed bytes only (estate.crypto)."""
import sqlalchemy as sa
from alembic import op

from estate.migrations.postgres_grants import grant_sql

revision = "0002_exchange_api_keys"
down_revision = "0001_chat"


def upgrade() -> None:
    op.create_table("exchange_api_keys",
                    sa.Column("id", sa.Integer, primary_key=True),
                    sa.Column("user_id", sa.String(255), nullable=False),
                    sa.Column("exchange", sa.String(64), nullable=False),
                    sa.Column("api_key", sa.String(255), nullable=False),
                    sa.Column("secret_sealed", sa.LargeBinary, nullable=False),
                    sa.Column("created_at", sa.DateTime, server_default=sa.func.now()),
                    sa.UniqueConstraint("user_id", "exchange", "api_key", name="uq_exchange_api_keys_user"))
    for statement in grant_sql("exchange_api_keys", "exchange_api_keys_id_seq"):  # readonly: no sealed secret
        op.execute(statement)


def downgrade() -> None:
    op.drop_table("exchange_api_keys")
