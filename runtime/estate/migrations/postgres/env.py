"""Alembic environment: runs on the connection handed over in ``config.attributes`` (see migrations.postgres)."""
from alembic import context

from estate.schema.postgres import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata)
with context.begin_transaction():
    context.run_migrations()
