"""MongoDB migrations (see estate.migrations.mongo_store for the runner)."""
