"""Packaging: `pip install .` without extras gives a `volta` that runs.

Issue 12: `httpx` was only in the `dev` extra while events/webhooks.py
imports it, so a plain install crashed at start. These tests read every
import in src/volta, find the distribution that provides it, and require
it among `[project] dependencies`; they also keep development tools out of
the runtime list, so `make run` installs no test tooling.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src" / "volta"

# Loaded by name, not by an import statement in src/volta: SQLAlchemy loads
# its drivers from the database URL, fastapi.templating loads jinja2 and form
# parsing loads python-multipart.
LOADED_BY_NAME = {"aiosqlite", "asyncpg", "jinja2", "python-multipart"}
# What only development needs.
DEV_ONLY = {
    "pytest",
    "pytest-asyncio",
    "pytest-xdist",
    "ruff",
    "mypy",
    "hypothesis",
    "playwright",
    "import-linter",
    "fastjsonschema",
    "schemathesis",
}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_name(spec: str) -> str:
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", spec)
    assert match, spec
    return _norm(match.group(1))


def _project() -> dict[str, object]:
    with (ROOT / "pyproject.toml").open("rb") as f:
        project: dict[str, object] = tomllib.load(f)["project"]
    return project


def runtime_dependencies() -> set[str]:
    deps = _project()["dependencies"]
    assert isinstance(deps, list)
    return {_requirement_name(d) for d in deps}


def imported_top_level_modules() -> dict[str, list[str]]:
    """Top-level modules src/volta imports outside the standard library, with
    the files that import them (TYPE_CHECKING-only imports included: they are
    real packages all the same). A package read by name, as
    `importlib.resources.files("ocpp")` (the OCPP schemas), counts too."""
    found: dict[str, list[str]] = {}
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            elif (
                isinstance(node, ast.Call)
                and getattr(node.func, "attr", getattr(node.func, "id", None))
                in ("files", "import_module")
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                names = [node.args[0].value]
            for name in names:
                top = name.split(".")[0]
                if top == "volta" or top in sys.stdlib_module_names:
                    continue
                found.setdefault(top, []).append(str(path.relative_to(ROOT)))
    return found


def test_every_runtime_import_is_a_runtime_dependency() -> None:
    deps = runtime_dependencies()
    providers = packages_distributions()
    missing: dict[str, str] = {}
    imports = imported_top_level_modules()
    # The module that crashed a plain install is seen, and so are the schemas.
    assert "httpx" in imports and "ocpp" in imports
    for module, files in imports.items():
        dists = {_norm(d) for d in providers.get(module, [])}
        assert dists, f"{module} (imported by {files[0]}) is not installed at all"
        if not dists & deps:
            missing[module] = f"{sorted(dists)} imported by {files[0]}"
    assert not missing, f"imported at run time but not in [project] dependencies: {missing}"


def test_runtime_dependencies_are_used_and_hold_no_dev_tools() -> None:
    deps = runtime_dependencies()
    providers = packages_distributions()
    imported = {
        _norm(dist) for module in imported_top_level_modules() for dist in providers.get(module, [])
    }
    # cryptography: secrets at rest (issue 12), wired by another part.
    unused = deps - imported - LOADED_BY_NAME - {"cryptography"}
    assert not unused, f"runtime dependencies nothing imports: {sorted(unused)}"
    assert not deps & DEV_ONLY, f"development tools in runtime: {sorted(deps & DEV_ONLY)}"
    assert "cryptography" in deps


def test_dev_extra_holds_the_development_tools() -> None:
    extras = _project()["optional-dependencies"]
    assert isinstance(extras, dict)
    dev = {_requirement_name(d) for d in extras["dev"]}
    for tool in ("pytest", "pytest-asyncio", "pytest-xdist", "ruff", "mypy"):
        assert tool in dev, tool


def test_makefile_run_installs_the_runtime_only() -> None:
    """`make run` installs `pip install -e .` (no extras); `make test` adds
    `.[dev]`; each has its own stamp so either order works."""
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    rules: dict[str, str] = {}
    current = ""
    for line in makefile.splitlines():
        if line and not line[0].isspace() and ":" in line and "=" not in line.split(":")[0]:
            current = line.split(":")[0].strip()
            rules[current] = line + "\n"
        elif line.startswith("\t") and current:
            rules[current] += line + "\n"
    runtime_stamp = rules["run"].split(":", 1)[1].split()[0]
    assert "-e ." in rules[runtime_stamp] and "[dev]" not in rules[runtime_stamp]
    dev_stamp = rules["pytest"].split(":", 1)[1].split()[0]
    assert '-e ".[dev]"' in rules[dev_stamp]
    assert runtime_stamp != dev_stamp
