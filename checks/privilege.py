"""Least privilege, tried rather than read: each role attempts what it must not do, and the store must
refuse. Attempts never change live data: PostgreSQL's run in a transaction that is always rolled back,
MinIO's and NATS's target throwaway buckets and streams or objects that do not exist."""
from __future__ import annotations

import asyncio
import io
import json
import uuid

import psycopg
from psycopg import sql

from checks.registry import Failed, Unsupported, check
from estate.environment import Role
from estate.stores.base import is_scratch

# PostgreSQL's predefined roles that read or write everything, or reach the server's files and programs
PG_POWERFUL_ROLES = ("pg_write_all_data", "pg_read_server_files", "pg_write_server_files",
                     "pg_execute_server_program", "pg_signal_backend", "pg_checkpoint")
MONGO_ADMIN_ROLES = {"root", "dbOwner", "userAdmin", "userAdminAnyDatabase", "dbAdmin", "dbAdminAnyDatabase",
                     "clusterAdmin", "clusterManager", "hostManager", "restore", "__system"}


def _refused(lines: list[str], done: str) -> str:
    if lines:
        raise Failed(lines)
    return done


# --- PostgreSQL --------------------------------------------------------------------------------------

def _tables(conn) -> list[tuple[str, str, str]]:
    """(schema, table, first column) of every table outside the system schemas."""
    return conn.execute(
        "SELECT n.nspname, c.relname, (SELECT attname FROM pg_attribute WHERE attrelid = c.oid AND attnum > 0 "
        "AND NOT attisdropped ORDER BY attnum LIMIT 1) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
        "AND n.nspname NOT LIKE 'pg\\_%' ORDER BY 1, 2").fetchall()


def _pg_attempts(a, role: Role, attempts: list[tuple[str, sql.Composable]]) -> list[str]:
    """Run each (what, statement) as ``role`` in a savepoint of a transaction that is rolled back; the
    ones the server did not refuse for lack of privilege (SQLSTATE 42501)."""
    accepted = []
    user = a.store.credential(role).username
    with a.connect(role) as conn:
        conn.execute("SET lock_timeout = '2s'")
        with conn.transaction(force_rollback=True):
            for what, statement in attempts:
                try:
                    with conn.transaction():
                        conn.execute(statement)
                except psycopg.errors.InsufficientPrivilege:
                    continue
                except psycopg.Error:
                    pass  # past the privilege check: a constraint or dependency stopped it, not the grants
                accepted.append(f"postgres {user} {what}: declared refused, live accepted")
    return accepted


@check("readonly cannot write", "postgres")
def _pg_readonly(a) -> str:
    with a.connect(Role.admin) as conn:
        tables = _tables(conn)
    attempts = []
    for schema, table, column in tables:
        t = sql.Identifier(schema, table)
        attempts += [
            (f"INSERT on {schema}.{table}", sql.SQL("INSERT INTO {} DEFAULT VALUES").format(t)),
            (f"UPDATE on {schema}.{table}", sql.SQL("UPDATE {} SET {c} = {c} WHERE false").format(t, c=sql.Identifier(column))),
            (f"DELETE on {schema}.{table}", sql.SQL("DELETE FROM {} WHERE false").format(t)),
            (f"TRUNCATE on {schema}.{table}", sql.SQL("TRUNCATE {}").format(t)),
        ]
    return _refused(_pg_attempts(a, Role.readonly, attempts),
                    f"INSERT, UPDATE, DELETE and TRUNCATE refused on {len(tables)} table(s)")


@check("app cannot change schema or drop", "postgres")
def _pg_app_ddl(a) -> str:
    with a.connect(Role.admin) as conn:
        tables = _tables(conn)
    probe = f"estate_probe_ddl_{uuid.uuid4().hex[:8]}"
    attempts = [("CREATE TABLE in public", sql.SQL("CREATE TABLE public.{} (id int)").format(sql.Identifier(probe))),
                ("CREATE SCHEMA", sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(probe)))]
    for schema, table, _ in tables:
        t = sql.Identifier(schema, table)
        attempts += [(f"ALTER TABLE {schema}.{table}", sql.SQL("ALTER TABLE {} ADD COLUMN {} int").format(t, sql.Identifier(probe))),
                     (f"DROP TABLE {schema}.{table}", sql.SQL("DROP TABLE {}").format(t))]
    return _refused(_pg_attempts(a, Role.app, attempts),
                    f"CREATE TABLE, CREATE SCHEMA refused; ALTER and DROP refused on {len(tables)} table(s)")


@check("no role but admin is superuser", "postgres")
def _pg_superusers(a) -> str:
    admin = a.store.credential(Role.admin).username
    limited = [a.store.credential(r).username for r in (Role.app, Role.readonly)]
    problems, supers = [], set()
    with a.connect(Role.admin) as conn:
        for name, sup, createrole, createdb, bypassrls, replication in conn.execute(
                "SELECT rolname, rolsuper, rolcreaterole, rolcreatedb, rolbypassrls, rolreplication FROM pg_roles "
                "WHERE rolname NOT LIKE 'pg\\_%' ORDER BY 1"):
            if sup and name != admin:
                problems.append(f"postgres role {name} superuser: declared no, live yes")
                supers.add(name)
            if name in limited:
                for attr, on in (("createrole", createrole), ("createdb", createdb), ("bypassrls", bypassrls),
                                 ("replication", replication)):
                    if on:
                        problems.append(f"postgres role {name} {attr}: declared no, live yes")
        for name in set(limited) - supers:  # a superuser is a member of every role: said once above
            powerful = [r for (r,) in conn.execute(
                "SELECT rolname FROM pg_roles WHERE (rolsuper OR rolname = ANY(%s)) AND rolname <> %s "
                "AND pg_has_role(%s, oid, 'MEMBER') ORDER BY 1", (list(PG_POWERFUL_ROLES), name, name))]
            problems += [f"postgres role {name} member of {r}: declared no, live yes" for r in powerful]
    return _refused(problems, f"only {admin} is superuser; {', '.join(limited)} have no role attributes or powerful memberships")


# --- MinIO -------------------------------------------------------------------------------------------

def _s3_refused(call) -> bool:
    """Whether MinIO refused ``call()`` for lack of permission (AccessDenied); any other error (a wrong
    key, say) is raised, so it is never mistaken for an accepted attempt."""
    from minio.error import S3Error

    try:
        call()
    except S3Error as exc:
        if exc.code == "AccessDenied":
            return True
        raise
    return False


@check("readonly cannot write", "minio")
def _minio_readonly(a) -> str:
    admin, ro = a.client(Role.admin), a.client(Role.readonly)
    user = a.store.credential(Role.readonly).username
    buckets = [b.name for b in admin.list_buckets() if not is_scratch(b.name)]
    problems = []
    for bucket in buckets:
        key = f"estate-verify/readonly-{uuid.uuid4().hex}"
        if not _s3_refused(lambda: ro.put_object(bucket, key, io.BytesIO(b"x"), 1)):
            problems.append(f"minio {user} PutObject on {bucket}: declared refused, live accepted")
        if not _s3_refused(lambda: ro.remove_object(bucket, key)):  # only the probe key: nothing of value lost
            problems.append(f"minio {user} DeleteObject on {bucket}: declared refused, live accepted")
        for version in admin.list_objects(bucket, prefix=key, include_version=True):  # what an accepted attempt left
            admin.remove_object(bucket, key, version_id=version.version_id)
    probe = f"estate-probe-ro-{uuid.uuid4().hex[:8]}"
    if not _s3_refused(lambda: ro.make_bucket(probe)):
        problems.append(f"minio {user} CreateBucket: declared refused, live accepted")
        admin.remove_bucket(probe)
    return _refused(problems, f"PutObject and DeleteObject refused on {len(buckets)} bucket(s), CreateBucket refused")


@check("app cannot change schema or drop", "minio")
def _minio_app_ddl(a) -> str:
    """On a throwaway bucket made by admin: the app may not delete it, nor change its policy, encryption
    or versioning (the same grants cover every bucket but the harness's scratch ones)."""
    from minio.versioningconfig import SUSPENDED, VersioningConfig

    admin, app = a.client(Role.admin), a.client(Role.app)
    user = a.store.credential(Role.app).username
    probe = f"estate-probe-ddl-{uuid.uuid4().hex[:8]}"
    public = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": ["*"]},
                        "Action": ["s3:GetObject"], "Resource": [f"arn:aws:s3:::{probe}/*"]}]})
    admin.make_bucket(probe)
    try:
        attempts = {"PutBucketPolicy": lambda: app.set_bucket_policy(probe, public),
                    "DeleteBucketEncryption": lambda: app.delete_bucket_encryption(probe),
                    "PutBucketVersioning": lambda: app.set_bucket_versioning(probe, VersioningConfig(SUSPENDED)),
                    "DeleteBucket": lambda: app.remove_bucket(probe)}
        problems = [f"minio {user} {action}: declared refused, live accepted"
                    for action, call in attempts.items() if not _s3_refused(call)]
    finally:
        if admin.bucket_exists(probe):
            admin.remove_bucket(probe)
    return _refused(problems, f"{', '.join(attempts)} refused to {user}")


@check("no role but admin is superuser", "minio")
def _minio_admins(a) -> str:
    admin = a.admin()
    problems = []
    for role in (Role.app, Role.readonly):
        user = a.store.credential(role).username
        for policy in filter(None, json.loads(admin.user_info(user)).get("policyName", "").split(",")):
            doc = json.loads(admin.policy_info(policy))
            doc = doc.get("Policy", doc)  # newer servers wrap the document
            actions = [act for st in doc.get("Statement", []) if st.get("Effect") == "Allow"
                       for act in ([st["Action"]] if isinstance(st.get("Action"), str) else st.get("Action", []))]
            if policy == "consoleAdmin" or any(act.startswith("admin:") for act in actions):
                problems.append(f"minio user {user} policy {policy} grants admin actions: declared no, live yes")
    return _refused(problems, "app and readonly hold no admin action (no consoleAdmin)")


# --- NATS --------------------------------------------------------------------------------------------

@check("readonly cannot write", "nats")
def _nats_readonly(a) -> str:
    """Against a throwaway stream made by admin, the readonly user tries to publish into it, purge it,
    delete it and create another; afterwards the stream must be intact and the other absent."""
    from nats.js.api import StorageType, StreamConfig
    from nats.js.errors import NotFoundError

    from estate.stores.nats import add_stream, retrying

    probe = f"ESTATE_PROBE_RO_{uuid.uuid4().hex[:8].upper()}"
    subject = f"estate.probe.{probe.lower()}"
    user = a.store.credential(Role.readonly).username

    async def attempt(call) -> None:
        try:
            await asyncio.wait_for(call(), 2)
        except Exception:  # refused: a permissions violation leaves the request unanswered
            pass

    async def go() -> list[str]:
        nc_admin = await a.connect(Role.admin)
        js_admin = nc_admin.jetstream()
        await add_stream(js_admin, StreamConfig(name=probe, subjects=[subject], storage=StorageType.MEMORY,
                                                num_replicas=1, max_msgs=10))
        await retrying(lambda: js_admin.publish(subject, b"kept", headers={"Nats-Msg-Id": probe}), "probe publish")
        problems = []
        try:
            nc = await a.connect(Role.readonly)
            js = nc.jetstream()
            try:
                await asyncio.gather(
                    attempt(lambda: js.publish(subject, b"readonly write")),
                    attempt(lambda: nc.publish(subject, b"readonly core write")),
                    attempt(lambda: js.purge_stream(probe)),
                    attempt(lambda: js.delete_stream(probe)),
                    attempt(lambda: js.add_stream(StreamConfig(name=f"{probe}_NEW", subjects=[f"{subject}.new"],
                                                               storage=StorageType.MEMORY, num_replicas=1))))
                await nc.flush()
            finally:
                await nc.close()
            try:
                state = (await retrying(lambda: js_admin.stream_info(probe), "probe stream info")).state
                if state.messages != 1:
                    problems.append(f"nats {user} publish/purge on {probe}: declared refused, live accepted "
                                    f"({state.messages} messages, 1 expected)")
            except NotFoundError:
                problems.append(f"nats {user} stream delete: declared refused, live accepted")
            try:
                await retrying(lambda: js_admin.stream_info(f"{probe}_NEW"), "probe stream info")
                problems.append(f"nats {user} stream create: declared refused, live accepted")
                await js_admin.delete_stream(f"{probe}_NEW")
            except NotFoundError:
                pass
        finally:
            try:
                await js_admin.delete_stream(probe)
            except NotFoundError:
                pass
            await nc_admin.close()
        return problems

    return _refused(a.run(go), "publish, purge, stream delete and stream create refused")


# --- MongoDB -----------------------------------------------------------------------------------------

def _mongo_roles_enforced(a) -> None:
    if not a.store.capabilities.get("roles"):
        raise Unsupported(f"{a.store.server} does not enforce roles: any authenticated user can write")


@check("readonly cannot write", "mongo")
def _mongo_readonly(a) -> str:
    from pymongo.errors import OperationFailure

    _mongo_roles_enforced(a)
    user, token = a.store.credential(Role.readonly).username, uuid.uuid4().hex
    with a.client(Role.readonly) as ro:
        try:
            ro["estate_probe"]["privilege"].insert_one({"_id": token})
        except OperationFailure as exc:
            if exc.code == 13:  # Unauthorized
                return "insert refused to readonly"
            raise
    with a.client(Role.admin) as c:
        c["estate_probe"]["privilege"].delete_one({"_id": token})
    raise Failed([f"mongo {user} insert: declared refused, live accepted"])


@check("no role but admin is superuser", "mongo")
def _mongo_admins(a) -> str:
    _mongo_roles_enforced(a)
    problems = []
    with a.client(Role.admin) as c:
        for role in (Role.app, Role.readonly):
            user = a.store.credential(role).username
            info = c.admin.command("usersInfo", {"user": user, "db": "admin"})["users"]
            held = {r["role"] for u in info for r in u.get("roles", [])}
            problems += [f"mongo user {user} role {r}: declared no, live yes" for r in sorted(held & MONGO_ADMIN_ROLES)]
    return _refused(problems, "app and readonly hold no administrative role")
