"""AI chat tables of the first seed (chat_sessions, chat_messages, artifacts, settings) and grants."""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from estate.migrations.postgres_grants import grant_sql

revision = "0001_chat"
down_revision = None


def upgrade() -> None:
    op.create_table("chat_sessions",
                    sa.Column("id", sa.String(255), primary_key=True),
                    sa.Column("user_id", sa.String(255), nullable=False),
                    sa.Column("title", sa.Text),
                    sa.Column("is_active", sa.Boolean, server_default=sa.text("true")),
                    sa.Column("created_at", sa.DateTime, server_default=sa.func.now()),
                    sa.Column("updated_at", sa.DateTime, server_default=sa.func.now()))
    op.create_index("ix_chat_sessions_user_id", "chat_sessions", ["user_id"])
    op.create_table("chat_messages",
                    sa.Column("id", sa.Integer, primary_key=True),
                    sa.Column("session_id", sa.String(255), sa.ForeignKey("chat_sessions.id", ondelete="CASCADE"),
                              nullable=False),
                    sa.Column("role", sa.String(20), nullable=False),
                    sa.Column("content", sa.Text, nullable=False),
                    sa.Column("artifacts_created", postgresql.ARRAY(sa.Text)),
                    sa.Column("timestamp", sa.DateTime, server_default=sa.func.now()))
    op.create_index("ix_chat_messages_session_ts", "chat_messages", ["session_id", "timestamp"])
    op.create_table("artifacts",
                    sa.Column("id", sa.Integer, primary_key=True),
                    sa.Column("session_id", sa.String(255), sa.ForeignKey("chat_sessions.id", ondelete="CASCADE"),
                              nullable=False),
                    sa.Column("filename", sa.String(255), nullable=False),
                    sa.Column("file_path", sa.Text, nullable=False),
                    sa.Column("mime_type", sa.String(100), server_default="text/plain"),
                    sa.Column("version", sa.Integer, server_default="1"),
                    sa.Column("created_at", sa.DateTime, server_default=sa.func.now()),
                    sa.Column("updated_at", sa.DateTime, server_default=sa.func.now()),
                    sa.UniqueConstraint("session_id", "filename", name="artifacts_session_id_filename_key"))
    op.create_table("settings",
                    sa.Column("id", sa.Integer, primary_key=True),
                    sa.Column("key", sa.String(255), nullable=False, unique=True),
                    sa.Column("value", sa.Text),
                    sa.Column("created_at", sa.DateTime, server_default=sa.func.now()),
                    sa.Column("updated_at", sa.DateTime, server_default=sa.func.now()))
    for statement in grant_sql("chat_sessions", "chat_messages", "artifacts", "settings",
                               "chat_messages_id_seq", "artifacts_id_seq", "settings_id_seq"):
        op.execute(statement)


def downgrade() -> None:
    for table in ("settings", "artifacts", "chat_messages", "chat_sessions"):
        op.drop_table(table)
