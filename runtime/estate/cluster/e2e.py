"""`estate cluster e2e`: apply each stack's rendered objects to the local cluster and prove what a
real API server, its controllers and kwok's fake nodes make of them.

Per stack, one at a time (the stacks' StorageClass names are cluster-wide): server-side apply of
every object the engine would send (secrets included) with one field manager; every workload
Ready, every claim Bound, every Job and a Job made from each CronJob Complete; the stack rendered
again changes nothing (a server-side dry run, then a real re-apply); a config change (StatefulSet replicas and limits)
applies in place (same uids); a change the API server refuses (a StatefulSet's claim size) is
reported in one line; deleting the namespace and the stack's StorageClasses leaves nothing behind.
"""
from __future__ import annotations

import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml

from estate.cluster.client import api_error, dynamic
from estate.errors import EstateError
from estate.local.binaries import Progress

FIELD_MANAGER = "estate-e2e"
STACKS = ("dev", "staging", "prod")
KIND_ORDER = {"Namespace": 0, "StorageClass": 1, "ServiceAccount": 2, "Secret": 3, "ConfigMap": 3}
CHANGED_STORE = "nats"  # the StatefulSet whose config the update and the refused change touch
TIMEOUT = 180.0

Key = tuple[str, str, str, str]  # apiVersion, kind, namespace, name


@dataclass
class StackResult:
    stack: str
    namespace: str = ""
    objects: int = 0
    accepted: int = 0
    refused: list[str] = field(default_factory=list)
    workloads: tuple[int, int] = (0, 0)
    claims: tuple[int, int] = (0, 0)
    jobs: tuple[int, int] = (0, 0)
    cronjobs: tuple[int, int] = (0, 0)
    reapply: list[str] = field(default_factory=list)  # differences a re-apply would make / made
    update: str = ""
    update_ok: bool = False
    immutable: str = ""
    immutable_ok: bool = False
    leftovers: list[str] = field(default_factory=list)
    retained_volumes: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


def key_of(obj: dict) -> Key:
    meta = obj["metadata"]
    return obj["apiVersion"], obj["kind"], meta.get("namespace", ""), meta["name"]


def label(key: Key) -> str:
    _, kind, ns, name = key
    return f"{kind} {ns + '/' if ns else ''}{name}"


def ordered(objects: list[dict]) -> list[dict]:
    """Namespaces and StorageClasses first, then what pods refer to, then the rest (stable)."""
    return sorted(objects, key=lambda o: KIND_ORDER.get(o["kind"], 5))


def rendered_objects(stack: str, stack_path: Path | None = None) -> list[dict]:
    """What the engine would send for the stack: every Kubernetes object, secrets revealed."""
    from infra.config import ConfigError
    from infra.render import render

    try:
        rendering = render(stack, stack_path)
    except ConfigError as exc:
        raise EstateError(str(exc)) from None
    return ordered([reg.manifest(reveal=True) for reg in rendering.objects()])


def storage_classes(stacks: tuple[str, ...] = STACKS) -> dict[str, str]:
    """{StorageClass name: reclaimPolicy} over the stacks (for kwok's volume stages)."""
    classes: dict[str, str] = {}
    for stack in stacks:
        for obj in rendered_objects(stack):
            if obj["kind"] == "StorageClass":
                classes[obj["metadata"]["name"]] = obj.get("reclaimPolicy", "Delete")
    return classes


def _scale(quantity: str, factor: int) -> str:
    m = re.fullmatch(r"(\d+)([A-Za-z]*)", str(quantity))
    if not m:
        raise EstateError(f"cannot scale quantity {quantity!r}")
    return f"{int(m.group(1)) * factor}{m.group(2)}"


def changed_stack_file(source: Path, target: Path, *, resize_volume: bool = False) -> dict[str, Any]:
    """A copy of the stack file with the changed store's replicas +2 and memory limit doubled (and, if
    asked, its volume size doubled: a StatefulSet claim template change, which the API server refuses)."""
    doc = yaml.safe_load(source.read_text())
    store = doc["config"][f"estate:{CHANGED_STORE}"]
    store["replicas"] += 2
    limits = store["resources"]["limits"]
    limits["memory"] = _scale(limits["memory"], 2)
    if resize_volume:
        store["volume"]["size"] = _scale(store["volume"]["size"], 2)
    target.write_text(yaml.safe_dump(doc, sort_keys=False))
    return store


class StackRun:
    """One stack's e2e on the cluster whose admin kubeconfig is given."""

    def __init__(self, stack: str, kubeconfig: Path, progress: Progress, timeout: float = TIMEOUT):
        self.stack, self.progress, self.timeout = stack, progress, timeout
        self.dyn = dynamic(kubeconfig)
        self.result = StackResult(stack)

    # --- API helpers ----------------------------------------------------------------------------
    def _res(self, api_version: str, kind: str):
        return self.dyn.resources.get(api_version=api_version, kind=kind)

    def apply(self, obj: dict, dry_run: bool = False) -> dict:
        extra = {"dry_run": "All"} if dry_run else {}
        res = self._res(obj["apiVersion"], obj["kind"])
        return self.dyn.server_side_apply(res, body=obj, namespace=obj["metadata"].get("namespace"),
                                          field_manager=FIELD_MANAGER, force_conflicts=True, **extra).to_dict()

    def apply_all(self, objects: list[dict], dry_run: bool = False) -> tuple[dict[Key, dict], list[str]]:
        done, refused = {}, []
        for obj in objects:
            try:
                done[key_of(obj)] = self.apply(obj, dry_run)
            except Exception as exc:  # the API server's refusal, one line per object
                refused.append(f"{label(key_of(obj))}: {api_error(exc)}")
        return done, refused

    def get(self, key: Key) -> dict | None:
        api_version, kind, ns, name = key
        try:
            return self._res(api_version, kind).get(name=name, namespace=ns or None).to_dict()
        except Exception as exc:
            if getattr(exc, "status", None) == 404:
                return None
            raise

    def list(self, api_version: str, kind: str, ns: str | None = None) -> list[dict]:
        return self._res(api_version, kind).get(namespace=ns).to_dict()["items"]

    def wait(self, what: str, check: Callable[[], tuple[bool, str]]) -> str:
        deadline = time.monotonic() + self.timeout
        state = ""
        while time.monotonic() < deadline:
            done, state = check()
            if done:
                return state
            time.sleep(0.5)
        raise EstateError(f"{self.stack}: {what} not reached within {self.timeout:.0f}s ({state})")

    # --- states ---------------------------------------------------------------------------------
    def workload_state(self) -> tuple[int, int, list[str]]:
        ns, ready, waiting = self.result.namespace, 0, []
        items = [*self.list("apps/v1", "Deployment", ns), *self.list("apps/v1", "StatefulSet", ns)]
        for w in items:
            spec, st, meta = w["spec"], w.get("status") or {}, w["metadata"]
            want = spec.get("replicas", 1)
            ok = (st.get("observedGeneration", 0) >= meta.get("generation", 0) and (st.get("readyReplicas") or 0) == want
                  and (st.get("updatedReplicas") or 0) == want and (st.get("replicas") or 0) == want)
            if w["kind"] == "StatefulSet":
                ok = ok and st.get("currentRevision") == st.get("updateRevision")
            ready += ok
            if not ok:
                waiting.append(f"{w['kind']} {meta['name']} {st.get('readyReplicas') or 0}/{want}")
        return ready, len(items), waiting

    def claim_state(self) -> tuple[int, int, list[str]]:
        claims = self.list("v1", "PersistentVolumeClaim", self.result.namespace)
        bound = [c for c in claims if (c.get("status") or {}).get("phase") == "Bound"]
        return len(bound), len(claims), [c["metadata"]["name"] for c in claims if c not in bound]

    def job_complete(self, name: str) -> bool:
        job = self.get(("batch/v1", "Job", self.result.namespace, name))
        conds = ((job or {}).get("status") or {}).get("conditions") or []
        return any(c["type"] == "Complete" and c["status"] == "True" for c in conds)

    def wait_settled(self, what: str) -> None:
        def check() -> tuple[bool, str]:
            w_ready, w_total, w_wait = self.workload_state()
            c_bound, c_total, c_wait = self.claim_state()
            self.result.workloads, self.result.claims = (w_ready, w_total), (c_bound, c_total)
            return not w_wait and not c_wait, "; ".join([*w_wait, *(f"claim {c} pending" for c in c_wait)])[:300]

        self.wait(what, check)

    # --- phases ---------------------------------------------------------------------------------
    def run(self) -> StackResult:
        r = self.result
        t0 = time.monotonic()
        objects = rendered_objects(self.stack)
        r.seconds["render"] = time.monotonic() - t0
        r.objects = len(objects)
        r.namespace = next(o["metadata"]["name"] for o in objects if o["kind"] == "Namespace")
        try:
            self.first_apply(objects)
            self.jobs_and_cronjobs(objects)
            self.reapply(rendered_objects(self.stack))  # the program run again, as a second `pulumi up` would
            self.update_and_refuse()
        except EstateError as exc:
            r.failures.append(str(exc))
        finally:
            self.teardown(objects)
        r.seconds["total"] = time.monotonic() - t0
        return r

    def first_apply(self, objects: list[dict]) -> None:
        r = self.result
        self.progress(f"{self.stack}: server-side apply of {len(objects)} objects (field manager {FIELD_MANAGER})")
        t = time.monotonic()
        done, r.refused = self.apply_all(objects)
        r.accepted = len(done)
        r.seconds["apply"] = time.monotonic() - t
        for line in r.refused:
            r.failures.append(f"refused: {line}")
        self.progress(f"{self.stack}: {r.accepted}/{r.objects} accepted; waiting for workloads Ready and claims Bound")
        t = time.monotonic()
        self.wait_settled("every workload Ready and every claim Bound")
        r.seconds["ready"] = time.monotonic() - t

    def jobs_and_cronjobs(self, objects: list[dict]) -> None:
        r, ns = self.result, self.result.namespace
        jobs = [o["metadata"]["name"] for o in objects if o["kind"] == "Job"]
        cronjobs = [o for o in objects if o["kind"] == "CronJob"]
        self.progress(f"{self.stack}: {len(jobs)} Jobs to complete; a Job from each of {len(cronjobs)} CronJobs")
        made = []
        for cj in cronjobs:
            live = self.get(key_of(cj))
            if live is None:
                continue
            name = f"{cj['metadata']['name']}-e2e"[:63]
            template = live["spec"]["jobTemplate"]
            job = {"apiVersion": "batch/v1", "kind": "Job",
                   "metadata": {"name": name, "namespace": ns, "labels": (template.get("metadata") or {}).get("labels", {}),
                                "annotations": {"cronjob.kubernetes.io/instantiate": "manual"},
                                "ownerReferences": [{"apiVersion": "batch/v1", "kind": "CronJob", "name": live["metadata"]["name"],
                                                     "uid": live["metadata"]["uid"], "controller": True}]},
                   "spec": template["spec"]}
            try:
                self.apply(job)
                made.append(name)
            except Exception as exc:
                r.failures.append(f"CronJob {cj['metadata']['name']}: its Job was refused: {api_error(exc)}")

        def check() -> tuple[bool, str]:
            done_jobs = [j for j in jobs if self.job_complete(j)]
            done_made = [j for j in made if self.job_complete(j)]
            r.jobs, r.cronjobs = (len(done_jobs), len(jobs)), (len(done_made), len(cronjobs))
            pending = sorted(set(jobs + made) - set(done_jobs + done_made))
            return not pending, "not complete: " + ", ".join(pending)

        self.wait("every Job Complete", check)

    def _managed(self, obj: dict | None) -> tuple:
        if obj is None:
            return (None,)
        meta = obj["metadata"]
        ours = [(m.get("time"), m.get("fieldsV1")) for m in meta.get("managedFields") or [] if m.get("manager") == FIELD_MANAGER]
        return meta.get("uid"), meta.get("generation"), ours

    def reapply(self, objects: list[dict]) -> None:
        """The stack rendered again: a server-side dry run of it differs from nothing live, and the
        real re-apply leaves our managed fields, generations and uids as they were."""
        r = self.result
        self.progress(f"{self.stack}: rendering again and re-applying (dry run, then for real)")
        before = {key_of(o): self.get(key_of(o)) for o in objects}
        dry, refused = self.apply_all(objects, dry_run=True)
        r.reapply += [f"dry run refused: {line}" for line in refused]
        for key, result in dry.items():
            diff = differences(before[key], result)
            if diff:
                r.reapply.append(f"{label(key)}: dry run would change {', '.join(diff[:5])}")
        _, refused = self.apply_all(objects)
        r.reapply += [f"re-apply refused: {line}" for line in refused]
        for obj in objects:
            key = key_of(obj)
            if self._managed(before[key]) != self._managed(self.get(key)):
                r.reapply.append(f"{label(key)}: re-apply changed its managed fields or generation")
        if r.reapply:
            r.failures.append(f"re-applying the same render changed {len(r.reapply)} object(s): {r.reapply[0]}")

    def _claims(self) -> dict[str, str]:
        return {c["metadata"]["name"]: c["metadata"]["uid"] for c in self.list("v1", "PersistentVolumeClaim", self.result.namespace)}

    def update_and_refuse(self) -> None:
        from infra.config import stack_file

        r, ns = self.result, self.result.namespace
        key = ("apps/v1", "StatefulSet", ns, CHANGED_STORE)
        before, claims_before = self.get(key), self._claims()
        with tempfile.TemporaryDirectory(prefix="estate-e2e-") as tmp:
            changed = Path(tmp) / f"Pulumi.{self.stack}.yaml"
            store = changed_stack_file(stack_file(self.stack), changed)
            self.progress(f"{self.stack}: config change: {CHANGED_STORE} replicas -> {store['replicas']}, "
                          f"memory limit -> {store['resources']['limits']['memory']}")
            objects = rendered_objects(self.stack, changed)
            t = time.monotonic()
            _, refused = self.apply_all(objects)
            if refused:
                r.failures.append(f"config change refused: {refused[0]}")
            self.wait_settled("the changed StatefulSet Ready with its new claims Bound")
            r.seconds["update"] = time.monotonic() - t
            after, claims_after = self.get(key), self._claims()
            kept = [c for c, uid in claims_before.items() if claims_after.get(c) == uid]
            sts = (after or {}).get("spec", {})
            limits = sts.get("template", {}).get("spec", {}).get("containers", [{}])[0].get("resources", {}).get("limits", {})
            same = before is not None and after is not None and before["metadata"]["uid"] == after["metadata"]["uid"]
            r.update_ok = (same and sts.get("replicas") == store["replicas"] and len(kept) == len(claims_before)
                           and limits.get("memory") == store["resources"]["limits"]["memory"])
            r.update = (f"StatefulSet {CHANGED_STORE} {'same' if same else 'NEW'} uid, replicas {sts.get('replicas')}, "
                        f"{len(kept)}/{len(claims_before)} claims kept their uid, {len(claims_after) - len(claims_before)} new")
            if not r.update_ok:
                r.failures.append(f"config change not applied in place: {r.update}")

            store = changed_stack_file(stack_file(self.stack), changed, resize_volume=True)
            self.progress(f"{self.stack}: refused change: {CHANGED_STORE} volume size -> {store['volume']['size']}")
            _, refused = self.apply_all(rendered_objects(self.stack, changed))
            ours = [line for line in refused if line.startswith(f"StatefulSet {ns}/{CHANGED_STORE}:")]
            r.immutable = ours[0] if ours else ""
            r.immutable_ok = bool(ours) and len(ours) == len(refused) and self._managed(self.get(key)) == self._managed(after)
            if not r.immutable_ok:
                r.failures.append("the claim-size change was not refused cleanly: " + ("; ".join(refused) or "accepted"))

    def teardown(self, objects: list[dict]) -> None:
        """Delete the namespace and the stack's StorageClasses; whatever remains is a leftover."""
        r, ns = self.result, self.result.namespace
        if not ns:
            return
        self.progress(f"{self.stack}: deleting namespace {ns} and the stack's StorageClasses")
        t = time.monotonic()
        classes = [o["metadata"]["name"] for o in objects if o["kind"] == "StorageClass"]
        for api_version, kind, name in [("v1", "Namespace", ns), *(("storage.k8s.io/v1", "StorageClass", c) for c in classes)]:
            try:
                self._res(api_version, kind).delete(name=name)
            except Exception as exc:
                if getattr(exc, "status", None) != 404:
                    r.failures.append(f"delete {kind} {name}: {api_error(exc)}")

        def gone() -> tuple[bool, str]:
            ns_left = self.get(("v1", "Namespace", "", ns))
            phase = ((ns_left or {}).get("status") or {}).get("phase")
            return ns_left is None, f"namespace {ns} {phase}"

        try:
            self.wait(f"namespace {ns} deleted", gone)
        except EstateError as exc:
            r.failures.append(str(exc))
        # Volumes of Retain classes outlive their claims (by design); release them as an operator would.
        def volumes() -> list[dict]:
            return [pv for pv in self.list("v1", "PersistentVolume")
                    if ((pv["spec"].get("claimRef") or {}).get("namespace")) == ns]

        def released() -> tuple[bool, str]:
            pvs = volumes()
            busy = [pv for pv in pvs if pv["spec"].get("persistentVolumeReclaimPolicy") != "Retain"
                    or (pv.get("status") or {}).get("phase") != "Released"]
            return not busy, f"{len(busy)} volume(s) not yet released or deleted"

        try:
            self.wait("volumes released", released)
        except EstateError as exc:
            r.failures.append(str(exc))
        retained = volumes()
        r.retained_volumes = len(retained)
        for pv in retained:
            self._res("v1", "PersistentVolume").delete(name=pv["metadata"]["name"])
        try:
            self.wait("retained volumes deleted", lambda: (not volumes(), f"{len(volumes())} volume(s) left"))
        except EstateError:
            pass  # named below as leftovers
        r.seconds["teardown"] = time.monotonic() - t
        r.leftovers = [label(key_of(o)) for o in objects if o["kind"] in ("Namespace", "StorageClass") and self.get(key_of(o))]
        r.leftovers += [f"PersistentVolume {pv['metadata']['name']}" for pv in volumes()]
        if r.leftovers:
            r.failures.append(f"left behind: {', '.join(r.leftovers[:5])}")


IGNORED_META = ("resourceVersion", "managedFields", "creationTimestamp", "uid", "generation")


def differences(live: dict | None, applied: dict) -> list[str]:
    """Top-level fields (and metadata other than bookkeeping) where ``applied`` differs from ``live``;
    status is the controllers' and kwok's, not ours."""
    if live is None:
        return ["(object missing)"]
    out = []
    for k in sorted(set(live) | set(applied)):
        if k == "status":
            continue
        if k == "metadata":
            a = {m: v for m, v in live["metadata"].items() if m not in IGNORED_META}
            b = {m: v for m, v in applied["metadata"].items() if m not in IGNORED_META}
            out += [f"metadata.{m}" for m in sorted(set(a) | set(b)) if a.get(m) != b.get(m)]
        elif live.get(k) != applied.get(k):
            out.append(k)
    return out


def run_e2e(kubeconfig: Path, stacks: list[str], progress: Progress) -> list[StackResult]:
    unknown = [s for s in stacks if s not in STACKS]
    if unknown:
        raise EstateError(f"unknown stack {unknown[0]!r}: choose from {', '.join(STACKS)}")
    return [StackRun(stack, kubeconfig, progress).run() for stack in stacks]


def summary_table(results: list[StackResult]):
    """One column per stack, one row per property proven."""
    from rich.table import Table

    t = Table(title="estate cluster e2e: each stack on a real API server with kwok nodes")
    t.add_column("")
    for r in results:
        t.add_column(r.stack)
    frac = lambda p: f"{p[0]}/{p[1]}"  # noqa: E731
    yes = lambda ok: "yes" if ok else "[red]NO[/red]"  # noqa: E731

    def teardown(r: StackResult) -> str:
        if r.leftovers:
            return f"[red]{len(r.leftovers)} left[/red]"
        return "nothing left" + (f" ({r.retained_volumes} Retain volumes released)" if r.retained_volumes else "")

    rows = [
        ("objects accepted (server-side apply)", lambda r: frac((r.accepted, r.objects))),
        ("workloads Ready", lambda r: frac(r.workloads)),
        ("claims Bound", lambda r: frac(r.claims)),
        ("Jobs Complete", lambda r: frac(r.jobs)),
        ("CronJob -> Job Complete", lambda r: frac(r.cronjobs)),
        ("re-apply changes nothing", lambda r: yes(not r.reapply)),
        ("config change in place (same uids)", lambda r: yes(r.update_ok)),
        ("immutable change refused", lambda r: yes(r.immutable_ok)),
        ("namespace + StorageClasses deleted", teardown),
        ("apply / Ready / update s", lambda r: " / ".join(f"{r.seconds.get(k, 0):.1f}" for k in ("apply", "ready", "update"))),
        ("result", lambda r: "[green]ok[/green]" if r.ok else "[red]FAIL[/red]"),
    ]
    for name, cell in rows:
        t.add_row(name, *(cell(r) for r in results))
    return t
