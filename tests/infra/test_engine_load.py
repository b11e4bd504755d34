"""The program loads as the Pulumi language host loads it: the `main:` directory first on `sys.path`,
config as the CLI passes it, stack files as `pulumi stack select --create` rewrites them."""
from __future__ import annotations

import importlib.machinery
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from infra.config import PROJECT, ROOT, STACKS, load_stack, stack_file
from infra.render import ENGINE_HOST, PROGRAM_DIR, RenderError, Rendering, render, run_program


def _top_level_names(program_dir: Path) -> list[str]:
    return sorted({p.stem for p in program_dir.glob("*.py")} | {p.name for p in program_dir.iterdir()
                                                                  if (p / "__init__.py").exists()} - {"__main__"})


def test_the_main_directory_is_what_pulumi_yaml_names() -> None:
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    assert (ROOT / project["main"]).resolve() == PROGRAM_DIR.resolve()
    assert project["name"] == PROJECT


def test_no_module_of_the_program_directory_shadows_an_importable_module() -> None:
    """Under the language host infra/ comes first on sys.path, so infra/estate.py would be what
    `import estate` finds (the bug that broke every `pulumi up`), and infra/nats.py would hide nats-py."""
    elsewhere = [p for p in sys.path if Path(p or ".").resolve() not in (PROGRAM_DIR.resolve(), ROOT.resolve())]
    shadowing = {name: spec.origin for name in _top_level_names(PROGRAM_DIR)
                 if name in sys.stdlib_module_names or (spec := importlib.machinery.PathFinder.find_spec(name, elsewhere))}
    assert not shadowing, f"modules in {PROGRAM_DIR} shadow importable modules: {shadowing}"


def test_the_shadow_check_sees_a_shadowing_module(tmp_path: Path) -> None:
    """The check above finds a module named like an installed package (so it can fail)."""
    (tmp_path / "nats.py").write_text("")
    (tmp_path / "composition.py").write_text("")
    names = _top_level_names(tmp_path)
    found = [n for n in names if importlib.machinery.PathFinder.find_spec(n, sys.path)]
    assert found == ["nats"]


def test_the_engine_host_runs_the_directory_first_on_sys_path(tmp_path: Path) -> None:
    """engine_host.py behaves as the language host: a module in the program directory wins over an
    installed package of the same name, so the renders below load the program as `pulumi up` does."""
    program = tmp_path / "program"
    program.mkdir()
    (program / "estate.py").write_text("")
    (program / "__main__.py").write_text("import pulumi, estate, sys\n"
                                         "pulumi.export('estate', estate.__file__)\n"
                                         "pulumi.export('first', sys.path[0])\n")
    out = tmp_path / "out.json"
    subprocess.run([sys.executable, "-I", str(ENGINE_HOST), str(program), PROJECT, "dev", str(out)], check=True,
                   cwd=ROOT, capture_output=True)
    outputs = json.loads(out.read_text())["outputs"]
    assert outputs == {"estate": str(program / "estate.py"), "first": str(program)}


def test_a_program_that_fails_to_import_is_one_line_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    program = tmp_path / "program"
    program.mkdir()
    (program / "__main__.py").write_text("from estate_missing_module import Thing\n")
    monkeypatch.setattr("infra.render.PROGRAM_DIR", program)
    with pytest.raises(RenderError) as err:
        run_program("dev", {})
    assert str(err.value) == ("the Pulumi program failed for stack dev: ModuleNotFoundError: "
                              "No module named 'estate_missing_module'")


def _as_pulumi_rewrites(value):
    """`pulumi stack select --create` writes scalars back as strings (`false` -> "false")."""
    if isinstance(value, dict):
        return {k: _as_pulumi_rewrites(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_pulumi_rewrites(v) for v in value]
    return str(value).lower() if isinstance(value, bool) else str(value)


@pytest.mark.parametrize("stack", STACKS)
def test_a_stack_file_as_pulumi_rewrites_it_renders_the_same(renderings: dict[str, Rendering], stack: str,
                                                             tmp_path: Path) -> None:
    doc = yaml.safe_load(stack_file(stack).read_text())
    rewritten = {"encryptionsalt": "v1:c2FsdA==:v1:aXZpdml2aXZpdg==:c2FsdHNhbHRzYWx0c2FsdA==",
                 "config": _as_pulumi_rewrites(doc["config"])}
    assert rewritten["config"][f"{PROJECT}:ha"] in ("true", "false")
    path = tmp_path / f"Pulumi.{stack}.yaml"
    path.write_text(yaml.safe_dump(rewritten))
    assert load_stack(stack, path) == renderings[stack].config
    again = render(stack, path)
    assert {r.urn: r.manifest(reveal=True) for r in again.resources} == \
           {r.urn: r.manifest(reveal=True) for r in renderings[stack].resources}


def test_the_program_never_imports_the_harness() -> None:
    """infra/ runs where the harness is not installed (the engine's virtualenv on an operator's machine)."""
    import ast

    harness = ("estate", "checks", "loadtests")
    found = []
    for path in PROGRAM_DIR.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
            found += [f"{path.relative_to(ROOT)}: {n}" for n in names if n.split(".")[0] in harness]
    assert not found


def test_mongod_capabilities_name_what_the_local_ferretdb_lacks() -> None:
    """The stacks' mongod declares every capability the local estate reports FerretDB as lacking."""
    from estate.local.mongo import FERRETDB_LACKS
    from infra.stores.mongo import MONGOD_CAPABILITIES

    assert sorted(MONGOD_CAPABILITIES) == sorted(FERRETDB_LACKS)
