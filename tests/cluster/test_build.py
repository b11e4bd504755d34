"""The wrapper module's go.mod and the build's progress lines, without building Kubernetes."""
from __future__ import annotations

import time

import pytest

from estate.cluster.build import Wrapper, with_heartbeat, wrapper_go_mod
from estate.errors import EstateError

# The shape `go mod edit -json` gives for k8s.io/kubernetes' go.mod (trimmed).
UPSTREAM = {
    "Module": {"Path": "k8s.io/kubernetes"},
    "Go": "1.24.0",
    "Godebug": [{"Key": "default", "Value": "go1.24"}],
    "Require": [{"Path": "github.com/spf13/cobra", "Version": "v1.8.1"}, {"Path": "k8s.io/api", "Version": "v0.0.0"},
                {"Path": "k8s.io/client/v2", "Version": "v2.305.21"}],
    "Replace": [
        {"Old": {"Path": "k8s.io/api"}, "New": {"Path": "./staging/src/k8s.io/api"}},
        {"Old": {"Path": "example.com/forked", "Version": "v1.0.0"}, "New": {"Path": "example.com/fork", "Version": "v1.0.1"}},
        {"Old": {"Path": "k8s.io/never-depend-on-me"}, "New": {"Path": "./FORBIDDEN_DEPENDENCY"}},
        {"Old": {"Path": "k8s.io/client/v2"}, "New": {"Path": "../client/v2"}},
    ],
}
WRAPPER = Wrapper("kubernetes", "k8s.io/kubernetes", "v1.33.13", "v0.33.13", {"kube-apiserver": "cmd/kube-apiserver"})


def test_local_replaces_become_published_versions_and_the_rest_is_kept() -> None:
    mod = wrapper_go_mod(UPSTREAM, WRAPPER)
    lines = [ln.strip() for ln in mod.splitlines()]
    assert lines[0] == "module estate.local/build"
    assert "go 1.24.0" in lines and "godebug default=go1.24" in lines
    assert "k8s.io/kubernetes v1.33.13" in lines and "github.com/spf13/cobra v1.8.1" in lines
    assert "k8s.io/api => k8s.io/api v0.33.13" in lines
    assert "k8s.io/client/v2 => k8s.io/client/v2 v2.305.21" in lines  # the version upstream requires, where real
    assert "example.com/forked v1.0.0 => example.com/fork v1.0.1" in lines
    assert "./staging" not in mod
    assert "never-depend-on-me" not in mod  # a fence for a module upstream does not require is dropped


def test_a_replace_that_cannot_be_translated_is_refused() -> None:
    upstream = {**UPSTREAM, "Replace": [{"Old": {"Path": "x.io/y"}, "New": {"Path": "github.com/fork/y"}}]}
    with pytest.raises(EstateError, match="cannot translate replace x.io/y"):
        wrapper_go_mod(upstream, WRAPPER)


def test_a_silent_build_step_still_reports_every_few_seconds() -> None:
    seen: list[str] = []

    def run(tick) -> None:
        tick("go build x: 1/3 packages compiled")
        time.sleep(0.5)  # the linker: nothing to say for a while
        tick("go build x: done")

    with_heartbeat(run, "go build x", seen.append, every=0.1)
    assert seen[0] == "go build x: 1/3 packages compiled" and seen[-1] == "go build x: done"
    assert any(s.startswith("go build x: still building") for s in seen[1:-1])


def test_a_failing_build_stops_the_heartbeat() -> None:
    seen: list[str] = []

    def run(tick) -> None:
        raise EstateError("go build x failed (exit 2): undefined: x")

    with pytest.raises(EstateError, match="undefined: x"):
        with_heartbeat(run, "go build x", seen.append, every=0.05)
    time.sleep(0.3)
    assert seen == []
