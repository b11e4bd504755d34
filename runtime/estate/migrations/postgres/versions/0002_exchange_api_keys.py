"""Users' exchange API keys; the secret column holds AES-GCM sealed bytes only (estate.crypto)."""
import sqlalchemy as sa
from alembic import op

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
    op.execute("GRANT SELECT, INSERT, UPDATE, DELETE ON exchange_api_keys TO app")
    op.execute("GRANT USAGE, SELECT ON SEQUENCE exchange_api_keys_id_seq TO app")
    # readonly may see which keys exist, not even the sealed secret
    op.execute("GRANT SELECT (id, user_id, exchange, api_key, created_at) ON exchange_api_keys TO readonly")


def downgrade() -> None:
    op.drop_table("exchange_api_keys")
