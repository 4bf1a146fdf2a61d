"""What the wheel ships: every module and every data file (templates, static files, plans,
migrations) of the application's folders, found by the package discovery pyproject.toml
configures, so ``pip install`` has nothing to warn about and nothing is left behind.

(``pip wheel . --no-deps -w DIR`` builds the wheel itself; it needs the package index for
setuptools, so the suite checks the configuration the way setuptools reads it instead.)"""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

from tests.conftest import REPO

ROOMS = ("models", "tracking", "notifications", "tasks", "flows", "cli", "web", "plans")


def find_namespace_packages(root: Path, include: list[str], exclude: list[str]) -> list[str]:
    """setuptools' ``find_namespace:``: every folder whose dotted name is made of identifiers,
    matches an ``include`` pattern and no ``exclude`` one (setuptools is not a test tool)."""
    found = []
    for folder in root.rglob("*"):
        if not folder.is_dir():
            continue
        parts = folder.relative_to(root).parts
        name = ".".join(parts)
        if not all(part.isidentifier() for part in parts):
            continue
        if any(fnmatch.fnmatchcase(name, p) for p in include) and not any(
            fnmatch.fnmatchcase(name, p) for p in exclude
        ):
            found.append(name)
    return found


def test_every_file_of_the_application_is_shipped() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text("utf-8"))["tool"]["setuptools"]
    find = config["packages"]["find"]
    assert find.get("namespaces", True)  # data folders have no __init__.py
    packages = set(find_namespace_packages(REPO, include=find["include"], exclude=find["exclude"]))
    data: dict[str, list[str]] = config["package-data"]
    missing = []
    for room in ROOMS:
        for path in sorted((REPO / room).rglob("*")):
            if not path.is_file() or "__pycache__" in path.parts or path.suffix == ".pyc":
                continue
            package = ".".join(path.parent.relative_to(REPO).parts)
            if package not in packages:
                missing.append(f"{path.relative_to(REPO)}: folder not a package")
            elif path.suffix != ".py" and not any(
                fnmatch.fnmatch(path.name, pattern) for pattern in data.get(package, [])
            ):
                missing.append(f"{path.relative_to(REPO)}: not in package-data")
    assert missing == []
    assert {"web.templates", "web.static", "tracking.migrations.versions", "plans"} <= packages
    assert not [p for p in packages if p.endswith("__pycache__") or p.startswith("tests")]


def test_make_run_installs_no_test_tools() -> None:
    makefile = (REPO / "Makefile").read_text("utf-8")
    run_stamp = makefile.split("$(RUN_STAMP):", 1)[1].split("\n\n", 1)[0]
    assert "-e ." in run_stamp and "[dev]" not in run_stamp
    assert "run: $(RUN_STAMP)" in makefile
    assert "test: $(DEV_STAMP)" in makefile and "lint: $(DEV_STAMP)" in makefile


def test_wheel_data_patterns_match_real_files() -> None:
    """A pattern that matches nothing is a typo that would silently ship nothing."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text("utf-8"))["tool"]["setuptools"]
    for package, patterns in config["package-data"].items():
        folder = REPO / Path(*package.split("."))
        names = [p.name for p in folder.iterdir() if p.is_file()]
        assert any(fnmatch.fnmatch(n, pat) for pat in patterns for n in names), package
