"""The least-privilege grants of the PostgreSQL schema, declared once.

The Alembic revisions grant exactly these (``grant_sql``), and the drift comparison
(``postgres_store.compare``) holds every grant of every role (PUBLIC included) on every table, column
and sequence of the schema against them: an extra grant is drift as much as a missing one. The
owner (the admin role, which runs the migrations) is not listed: it holds every privilege by owning.
"""
from __future__ import annotations

CRUD = ("SELECT", "INSERT", "UPDATE", "DELETE")

TABLES: dict[str, dict[str, tuple[str, ...]]] = {  # table -> grantee -> privileges
    "chat_sessions": {"app": CRUD, "readonly": ("SELECT",)},
    "chat_messages": {"app": CRUD, "readonly": ("SELECT",)},
    "artifacts": {"app": CRUD, "readonly": ("SELECT",)},
    "settings": {"app": CRUD, "readonly": ("SELECT",)},
    "exchange_api_keys": {"app": CRUD},
}
# readonly may see which exchange keys exist, not even the sealed secret
COLUMNS: dict[str, dict[str, dict[str, tuple[str, ...]]]] = {  # table -> grantee -> privilege -> columns
    "exchange_api_keys": {"readonly": {"SELECT": ("id", "user_id", "exchange", "api_key", "created_at")}},
}
SEQUENCES: dict[str, dict[str, tuple[str, ...]]] = {  # sequence -> grantee -> privileges
    "chat_messages_id_seq": {"app": ("USAGE", "SELECT")},
    "artifacts_id_seq": {"app": ("USAGE", "SELECT")},
    "settings_id_seq": {"app": ("USAGE", "SELECT")},
    "exchange_api_keys_id_seq": {"app": ("USAGE", "SELECT")},
}


def grant_sql(*objects: str) -> list[str]:
    """The GRANT statements that give ``objects`` (tables and sequences) their declared grants."""
    out = []
    for name in objects:
        if name not in TABLES and name not in SEQUENCES:
            raise KeyError(f"no grants declared for {name}")
        for grantee, privileges in TABLES.get(name, {}).items():
            out.append(f"GRANT {', '.join(privileges)} ON {name} TO {grantee}")
        for grantee, by_privilege in COLUMNS.get(name, {}).items():
            for privilege, columns in by_privilege.items():
                out.append(f"GRANT {privilege} ({', '.join(columns)}) ON {name} TO {grantee}")
        for grantee, privileges in SEQUENCES.get(name, {}).items():
            out.append(f"GRANT {', '.join(privileges)} ON SEQUENCE {name} TO {grantee}")
    return out


def declared() -> dict[tuple[str, str, str], frozenset[str]]:
    """(kind, object, grantee) -> privileges, kind being table, column or sequence; column objects
    are ``table.column``."""
    out: dict[tuple[str, str, str], frozenset[str]] = {}
    for table, grants in TABLES.items():
        out |= {("table", table, grantee): frozenset(p) for grantee, p in grants.items()}
    for table, grants in COLUMNS.items():
        for grantee, by_privilege in grants.items():
            for privilege, columns in by_privilege.items():
                for column in columns:
                    key = ("column", f"{table}.{column}", grantee)
                    out[key] = out.get(key, frozenset()) | {privilege}
    for sequence, grants in SEQUENCES.items():
        out |= {("sequence", sequence, grantee): frozenset(p) for grantee, p in grants.items()}
    return out
