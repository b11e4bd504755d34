"""The wrapper module's go.mod and the build's progress lines, without building Kubernetes."""
from __future__ import annotations

import sys

import pytest

from estate.cluster.build import Wrapper, go_build_with_progress, wrapper_go_mod
from estate.errors import EstateError

# The shape `go mod edit -json` gives for k8s.io/kubernetes' go.mod (trimmed).
UPSTREAM = {
    "Module": {"Path": "k8s.io/kubernetes"},
    "Go": "1.24.0",
    "Godebug": [{"Key": "default", "Value": "go1.24"}],
    "Require": [{"Path": "github.com/spf13/cobra", "Version": "v1.8.1"}, {"Path": "k8s.io/api", "Version": "v0.0.0"}],
    "Replace": [
        {"Old": {"Path": "k8s.io/api"}, "New": {"Path": "./staging/src/k8s.io/api"}},
        {"Old": {"Path": "example.com/forked", "Version": "v1.0.0"}, "New": {"Path": "example.com/fork", "Version": "v1.0.1"}},
    ],
}
WRAPPER = Wrapper("k8s.io/kubernetes", "v1.33.13", "v0.33.13", {"kube-apiserver": "cmd/kube-apiserver"})


def test_local_replaces_become_published_versions_and_the_rest_is_kept() -> None:
    mod = wrapper_go_mod(UPSTREAM, WRAPPER)
    lines = [ln.strip() for ln in mod.splitlines()]
    assert lines[0] == "module estate.local/build"
    assert "go 1.24.0" in lines and "godebug default=go1.24" in lines
    assert "k8s.io/kubernetes v1.33.13" in lines and "github.com/spf13/cobra v1.8.1" in lines
    assert "k8s.io/api => k8s.io/api v0.33.13" in lines
    assert "example.com/forked v1.0.0 => example.com/fork v1.0.1" in lines
    assert "./staging" not in mod


def test_a_replace_that_cannot_be_translated_is_refused() -> None:
    upstream = {**UPSTREAM, "Replace": [{"Old": {"Path": "x.io/y"}, "New": {"Path": "github.com/fork/y"}}]}
    with pytest.raises(EstateError, match="cannot translate replace x.io/y"):
        wrapper_go_mod(upstream, WRAPPER)


def test_build_progress_counts_packages_against_the_total() -> None:
    script = "import time\nfor p in ['runtime', 'k8s.io/api/core/v1', 'estate.local/build/cmd/x']: print(p, flush=True)\n"
    seen: list[str] = []
    go_build_with_progress([sys.executable, "-c", script], 3, "go build x", seen.append, cwd=".", env={})
    assert seen == ["go build x: [1/3] runtime", "go build x: [2/3] k8s.io/api/core/v1",
                    "go build x: [3/3] estate.local/build/cmd/x"]


def test_build_progress_beats_while_the_linker_is_silent_and_reports_failure_in_one_line() -> None:
    script = "import sys, time\nprint('runtime', flush=True)\ntime.sleep(0.5)\nprint('# pkg: undefined: x', flush=True)\nsys.exit(2)\n"
    seen: list[str] = []
    with pytest.raises(EstateError, match=r"go build x failed \(exit 2\): # pkg: undefined: x"):
        go_build_with_progress([sys.executable, "-c", script], 10, "go build x", seen.append, cwd=".", env={},
                               heartbeat=0.1)
    assert seen[0] == "go build x: [1/10] runtime"
    assert any("still building" in s for s in seen)
