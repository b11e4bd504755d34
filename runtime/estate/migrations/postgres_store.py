"""PostgreSQL: Alembic revisions under migrations/postgres/versions, run in code as the admin role; and the
comparison of the live schema with the models (Alembic's own ``compare_metadata``) and of the live grants
with the declared ones (``postgres_grants``)."""
from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Column, ForeignKeyConstraint, Table, UniqueConstraint, create_engine, text
from sqlalchemy.pool import NullPool
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from estate.environment import Role
from estate.errors import EstateError, first_line
from estate.migrations import Drift, Step, postgres_grants
from estate.schema.postgres import Base

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


# --- drift: the live schema and grants against the models and the declared grants ------------------

LIVE_GRANTS = """
SELECT CASE WHEN c.relkind = 'S' THEN 'sequence' WHEN c.relkind IN ('v', 'm') THEN 'view' ELSE 'table' END,
       c.relname, coalesce(r.rolname, 'PUBLIC'), a.privilege_type
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
CROSS JOIN LATERAL aclexplode(c.relacl) a LEFT JOIN pg_roles r ON r.oid = a.grantee
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND a.grantee <> c.relowner
UNION ALL
SELECT 'column', c.relname || '.' || att.attname, coalesce(r.rolname, 'PUBLIC'), a.privilege_type
FROM pg_attribute att JOIN pg_class c ON c.oid = att.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
CROSS JOIN LATERAL aclexplode(att.attacl) a LEFT JOIN pg_roles r ON r.oid = a.grantee
WHERE n.nspname = 'public' AND att.attnum > 0 AND NOT att.attisdropped AND a.grantee <> c.relowner
"""
LIVE_OBJECTS = """
SELECT CASE WHEN c.relkind = 'S' THEN 'sequence' WHEN c.relkind IN ('v', 'm') THEN 'view' ELSE 'table' END,
       c.relname, pg_get_userbyid(c.relowner)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
"""


def compare(env) -> Drift:
    """The revision against the head, the schema against the models (types, nullability, defaults,
    indexes, unique constraints, foreign keys with ON DELETE) and every grant against the declared ones."""
    head = ScriptDirectory(str(HERE)).get_current_head()
    try:
        with _engine(env).connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
            revision = ctx.get_current_revision()
            schema = compare_metadata(ctx, Base.metadata)
            grants = conn.execute(text(LIVE_GRANTS)).all()
            objects = conn.execute(text(LIVE_OBJECTS)).all()
            dialect = conn.dialect
    except SQLAlchemyError as exc:
        raise EstateError(f"postgres drift: {first_line(getattr(exc, 'orig', None) or exc)}") from None
    drift = Drift()
    if revision != head:
        drift.differences.append(f"postgres alembic_version revision: declared {head}, live {revision or 'none'}")
    drift.differences += _schema_lines(schema, dialect)
    drift.differences += _grant_lines(grants, objects, env.store("postgres").credential(Role.admin).username)
    return drift


def _schema_lines(diffs: list, dialect) -> list[str]:
    """compare_metadata's diffs as lines; an object both removed and added (a changed index, unique
    constraint or foreign key, e.g. its ON DELETE) is one line with both sides."""
    def show(obj) -> str:
        if isinstance(obj, ForeignKeyConstraint):
            target = obj.elements[0].target_fullname.rsplit(".", 1)[0]
            refs = ", ".join(e.target_fullname.rsplit(".", 1)[1] for e in obj.elements)
            return (f"({', '.join(obj.column_keys)}) REFERENCES {target}({refs}) "
                    f"ON DELETE {(obj.ondelete or 'NO ACTION').upper()}")
        if isinstance(obj, Column):
            return f"{obj.type.compile(dialect=dialect)}{'' if obj.nullable else ' NOT NULL'}"
        if isinstance(obj, Table):
            return "present"
        unique = " UNIQUE" if isinstance(obj, UniqueConstraint) or getattr(obj, "unique", False) else ""
        return f"{obj.name} ({', '.join(c.name for c in obj.columns)}){unique}"

    kinds = {"table": "table", "column": "column", "index": "index", "constraint": "unique constraint",
             "fk": "foreign key"}
    sides: dict[str, dict[str, str]] = {}
    lines = []
    for diff in diffs:
        if isinstance(diff, list):  # modify_type / modify_nullable / modify_default / modify_comment
            for op_, _schema, table, column, _existing, live, declared in diff:
                field = op_.removeprefix("modify_")
                if field == "type":
                    live, declared = live.compile(dialect=dialect), declared.compile(dialect=dialect)
                elif field == "default":
                    live, declared = _default(live), _default(declared)
                lines.append(f"postgres table {table} column {column} {field}: declared {declared}, live {live}")
            continue
        op_, *args = diff
        action, kind = op_.split("_", 1)
        if kind == "table_comment":  # ("add_table_comment", table, live comment) / ("remove_table_comment", table)
            table = args[0]
            declared, live = (table.comment, args[1]) if action == "add" else (None, "present")
            lines.append(f"postgres table {table.name} comment: declared {_default(declared)}, live {_default(live)}")
            continue
        obj = args[-1]
        if kind == "table":
            where = f"table {obj.name}"
        elif kind == "column":
            where = f"table {args[1]} column {obj.name}"
        else:
            cols = obj.column_keys if kind == "fk" else [c.name for c in obj.columns]
            where = f"table {obj.table.name} {kinds[kind]} on ({', '.join(cols)})"
        sides.setdefault(where, {})["declared" if action == "add" else "live"] = show(obj)
    for where, side in sides.items():
        lines.append(f"postgres {where}: declared {side.get('declared', 'absent')}, live {side.get('live', 'absent')}")
    return lines


def _default(value) -> str:
    if value is None:
        return "none"
    arg = getattr(value, "arg", value)  # a DefaultClause holds a text() or a str
    return str(getattr(arg, "text", arg))


def _grant_lines(grants, objects, owner: str) -> list[str]:
    """Owners and privileges, grantee by grantee (PUBLIC included), against the declared grants."""
    live: dict[tuple[str, str, str], set[str]] = {}
    for kind, name, grantee, privilege in grants:
        live.setdefault((kind, name, grantee), set()).add(privilege)
    declared = postgres_grants.declared()
    sequences = {name for kind, name, _ in objects if kind == "sequence"}
    relations = {name for kind, name, _ in objects if kind != "sequence"}
    lines = [f"postgres {kind} {name} owner: declared {owner}, live {have}"
             for kind, name, have in sorted(objects) if have != owner]
    lines += [f"postgres sequence {name}: declared present, live absent"
              for name in postgres_grants.SEQUENCES if name not in sequences]
    for key in sorted(set(declared) | set(live)):
        kind, name, grantee = key
        exists = name in sequences if kind == "sequence" else name.split(".")[0] in relations
        if not exists:
            continue  # the missing object is named once: above, or by the schema comparison
        want, have = set(declared.get(key, ())), live.get(key, set())
        if want != have:
            lines.append(f"postgres {kind} {name} privileges of {grantee}: declared {_privileges(want)}, "
                         f"live {_privileges(have)}")
    return lines


def _privileges(privileges: set[str]) -> str:
    return ", ".join(sorted(privileges)) or "none"
