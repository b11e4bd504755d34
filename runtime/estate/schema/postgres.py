"""PostgreSQL schema (SQLAlchemy 2.0): the first seed's AI chat tables plus users' exchange API keys.

Names match the seed exactly (the seed writers COPY into them). Timestamps are TIMESTAMP (no zone)
as in the seed, which the writers rely on.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import (ARRAY, Boolean, DateTime, ForeignKey, Index, Integer, LargeBinary, MetaData, String, Text,
                        UniqueConstraint, func, text)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention={"ix": "ix_%(table_name)s_%(column_0_name)s",
                                           "uq": "uq_%(table_name)s_%(column_0_name)s",
                                           "fk": "fk_%(table_name)s_%(column_0_name)s",
                                           "pk": "%(table_name)s_pkey"})


class ChatSession(Base):
    __tablename__ = "chat_sessions"
    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(255), nullable=False, index=True)
    title: Mapped[str | None] = mapped_column(Text)
    is_active: Mapped[bool | None] = mapped_column(Boolean, server_default=text("true"))
    created_at: Mapped[datetime | None] = mapped_column(DateTime, server_default=func.now())
    updated_at: Mapped[datetime | None] = mapped_column(DateTime, server_default=func.now())


class ChatMessage(Base):
    __tablename__ = "chat_messages"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("chat_sessions.id", ondelete="CASCADE"), nullable=False)
    role: Mapped[str] = mapped_column(String(20), nullable=False)
    content: Mapped[str] = mapped_column(Text, nullable=False)
    artifacts_created: Mapped[list[str] | None] = mapped_column(ARRAY(Text))
    timestamp: Mapped[datetime | None] = mapped_column(DateTime, server_default=func.now())
    __table_args__ = (Index("ix_chat_messages_session_ts", "session_id", "timestamp"),)


class Artifact(Base):
    __tablename__ = "artifacts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("chat_sessions.id", ondelete="CASCADE"), nullable=False)
    filename: Mapped[str] = mapped_column(String(255), nullable=False)
    file_path: Mapped[str] = mapped_column(Text, nullable=False)
    mime_type: Mapped[str | None] = mapped_column(String(100), server_default="text/plain")
    version: Mapped[int | None] = mapped_column(Integer, server_default="1")
    created_at: Mapped[datetime | None] = mapped_column(DateTime, server_default=func.now())
    updated_at: Mapped[datetime | None] = mapped_column(DateTime, server_default=func.now())
    __table_args__ = (UniqueConstraint("session_id", "filename", name="artifacts_session_id_filename_key"),)


class Setting(Base):
    __tablename__ = "settings"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(255), nullable=False, unique=True)
    value: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime | None] = mapped_column(DateTime, server_default=func.now())
    updated_at: Mapped[datetime | None] = mapped_column(DateTime, server_default=func.now())


class ExchangeApiKey(Base):
    """A user's exchange API key; the secret is AES-GCM sealed (estate.crypto), never stored in clear."""
    __tablename__ = "exchange_api_keys"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[str] = mapped_column(String(255), nullable=False)
    exchange: Mapped[str] = mapped_column(String(64), nullable=False)
    api_key: Mapped[str] = mapped_column(String(255), nullable=False)
    secret_sealed: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    created_at: Mapped[datetime | None] = mapped_column(DateTime, server_default=func.now())
    __table_args__ = (UniqueConstraint("user_id", "exchange", "api_key", name="uq_exchange_api_keys_user"),)


APP_TABLES = ("chat_sessions", "chat_messages", "artifacts", "settings", "exchange_api_keys")
APP_SEQUENCES = ("chat_messages_id_seq", "artifacts_id_seq", "settings_id_seq", "exchange_api_keys_id_seq")
