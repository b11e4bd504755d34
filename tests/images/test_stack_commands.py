"""Every command the three stacks run in the harness image, run against the built image: each program
exists in it (`command -v`), each `estate …` parses there (`--help` on the subcommand and on the whole
argv, so an unknown subcommand or option fails), each `locust -f FILE` finds FILE from the image's
working directory. A shell `-c` script is split into its simple commands, following `. FILE` into the
ConfigMap mounted at FILE, so a CronJob calling a tool the image lacks (mongodump, mc) fails here."""
from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import Any

import docker
import pytest
from testinfra.host import Host

from infra.config import STACKS
from infra.render import render

WORKLOADS = ("CronJob", "Deployment", "Job")
SHELLS = {"sh", "bash"}
# Words that may stand before a command (`do mc …`, `if ! pg_dump …`); assignments are skipped as well.
LEADING = {"!", "{", "do", "then", "else", "elif", "if", "while", "until", "time"}
# Simple commands that start a compound one or close it: their words are not commands.
COMPOUND = {"for", "case", "done", "fi", "esac", "}"}
ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
SUBSTITUTION = re.compile(r"\$\(([^()]*)\)|`([^`]*)`")


def pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    spec = obj["spec"]["jobTemplate"]["spec"] if obj["kind"] == "CronJob" else obj["spec"]
    return spec["template"]["spec"]


def simple_commands(script: str) -> list[list[str]]:
    """The simple commands of a shell script (and of its command substitutions), each as its words from
    the command name on."""
    inner: list[str] = []
    script = SUBSTITUTION.sub(lambda m: inner.append(m[1] or m[2]) or "_", script)
    lex = shlex.shlex(script.replace("\n", ";"), posix=True, punctuation_chars=True)
    lex.whitespace_split = True
    segments, words, redirect = [], [], False
    for token in lex:
        if redirect:
            redirect = False  # a redirection's target
        elif set(token) <= set(";&|()"):
            segments.append(words)
            words = []
        elif set(token) <= set("<>&"):
            redirect = True
        else:
            words.append(token)
    segments.append(words)
    out = []
    for words in segments:
        while words and (words[0] in LEADING or ASSIGNMENT.match(words[0])):
            words = words[1:]
        if words and words[0] not in COMPOUND:
            out.append(words)
    return out + [c for s in inner for c in simple_commands(s)]


def commands(container: dict[str, Any], spec: dict[str, Any], configmaps: dict[str, dict]) -> Iterator[list[str]]:
    """The argv a container runs; for a shell script, each simple command in it and in the files it sources."""
    argv = [*container.get("command", []), *container.get("args", [])]
    if not (len(argv) >= 3 and PurePosixPath(argv[0]).name in SHELLS and argv[1] == "-c"):
        yield argv
        return
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    pending = [argv[2]]
    while pending:
        for words in simple_commands(pending.pop()):
            yield words
            if words[0] in (".", "source") and len(words) > 1:
                path = PurePosixPath(words[1])
                for mount in container.get("volumeMounts", []):
                    source = volumes[mount["name"]].get("configMap")
                    if source and path.is_relative_to(mount["mountPath"]):
                        pending.append(configmaps[source["name"]]["data"][str(path.relative_to(mount["mountPath"]))])


@pytest.fixture(scope="module")
def harness_commands(images: dict[str, str]) -> dict[tuple[str, ...], list[str]]:
    """Each distinct command of a harness-image container in any stack, with where it is declared."""
    found: dict[tuple[str, ...], list[str]] = {}
    for stack in STACKS:
        rendering = render(stack)
        configmaps = rendering.named("ConfigMap")
        containers = 0
        for kind in WORKLOADS:
            for obj in rendering.of_kind(kind):
                spec = pod_spec(obj)
                for c in [*spec.get("initContainers", []), *spec["containers"]]:
                    if c["image"] == images["harness"]:
                        containers += 1
                        for argv in commands(c, spec, configmaps):
                            found.setdefault(tuple(argv), []).append(f"{stack} {kind} {obj['metadata']['name']}/{c['name']}")
        assert containers >= 5, f"{stack}: only {containers} containers name {images['harness']}"
    return found


def problems(host: Host, argv: tuple[str, ...], workdir: str) -> list[str]:
    """Why ``argv`` cannot run in the harness container (nothing when it can)."""
    found = []
    if host.run("bash -c %s", f"command -v {shlex.quote(argv[0])}").rc != 0:
        return [f"{argv[0]}: not in the image"]
    name = PurePosixPath(argv[0]).name
    if name == "estate":
        sub = [w for w in argv[1:] if not w.startswith("-")][:1]
        for probe in ([argv[0], *sub, "--help"], [*argv, "--help"]):
            result = host.run(" ".join(map(shlex.quote, probe)))
            if result.rc != 0:
                found.append(f"`{shlex.join(probe)}` exits {result.rc}: {(result.stderr or result.stdout).strip()[-300:]}")
    if name == "locust":
        locustfile = argv[argv.index("-f") + 1]
        if host.run("cd %s && test -f %s", workdir, locustfile).rc != 0:
            found.append(f"{locustfile} not found from the working directory {workdir}")
    return found


def test_every_harness_command_of_every_stack_runs_in_the_image(docker_client: docker.DockerClient,
                                                                images: dict[str, str], running: dict,
                                                                harness_commands: dict) -> None:
    host: Host = running["harness"]  # the image's own user (999), as the pods' runAsUser
    workdir = docker_client.images.get(images["harness"]).attrs["Config"]["WorkingDir"]
    assert workdir, "the harness image sets no WORKDIR"
    failures = [f"{where[0]} (and {len(where) - 1} more): {p}"
                for argv, where in harness_commands.items() for p in problems(host, argv, workdir)]
    assert not failures, "\n".join(failures)
    assert {a[:2] for a in harness_commands} >= {("estate", "verify"), ("estate", "backup"), ("estate", "restore"),
                                                 ("locust", "-f")}


def test_shell_scripts_are_split_into_their_commands() -> None:
    script = ('mc alias set estate "https://$M" >/dev/null && X=1 pg_dump -Fc -d "$D" 2>&1 | mc pipe e/$(date -u).dump\n'
              'for b in a b; do mc mirror "e/$b"; done; if ! mongodump --archive; then . /etc/x/y; fi')
    assert [w[0] for w in simple_commands(script)] == ["mc", "pg_dump", "mc", "mc", "mongodump", ".", "date"]
