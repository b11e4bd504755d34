"""PostgreSQL: Alembic revisions under migrations/postgres/versions, run in code as the admin role."""
from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool
from sqlalchemy.exc import OperationalError

from estate.environment import Role
from estate.errors import EstateError, first_line
from estate.migrations import Step

HERE = Path(__file__).parent / "postgres"


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    return cfg


def _engine(env):
    url = env.postgres_url(Role.admin).replace("postgresql://", "postgresql+psycopg://", 1)
    return create_engine(url, connect_args={"connect_timeout": 5}, poolclass=NullPool)


def current(env) -> str | None:
    with _engine(env).connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def migrate(env, downgrade: str | None = None) -> list[Step]:
    """Upgrade to head (or downgrade to ``downgrade``, 'base' for nothing); one Step per revision."""
    cfg, script = _config(), ScriptDirectory(str(HERE))
    try:
        with _engine(env).connect() as conn:
            before = MigrationContext.configure(conn).get_current_revision()
            cfg.attributes["connection"] = conn
            if downgrade is not None:
                command.downgrade(cfg, downgrade)
            else:
                command.upgrade(cfg, "head")
            conn.commit()
            after = MigrationContext.configure(conn).get_current_revision()
    except OperationalError as exc:
        raise EstateError(f"postgres migrate: {first_line(exc.orig or exc)}") from None
    revs = list(reversed(list(script.walk_revisions())))  # base -> head
    order = [r.revision for r in revs]
    pos = lambda rev: order.index(rev) if rev else -1  # noqa: E731
    steps = []
    for i, rev in enumerate(revs):
        if downgrade is not None:
            if pos(after) < i <= pos(before):
                steps.append(Step("postgres", f"{rev.revision}: {rev.doc}", "downgraded"))
        elif i <= pos(before):
            steps.append(Step("postgres", f"{rev.revision}: {rev.doc}", "already applied"))
        else:
            steps.append(Step("postgres", f"{rev.revision}: {rev.doc}", "applied"))
    return steps
