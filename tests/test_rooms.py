"""The room rules of docs/architecture.md hold, and would catch a forbidden import.

``lint-imports`` reads the contracts in pyproject.toml. Run on a copy of the tree with one
forbidden import added, it must fail and name the contract that import breaks.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, ROOMS

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

pytestmark = pytest.mark.skipif(not LINT_IMPORTS.exists(), reason="import-linter not installed")


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=300,
    )


def copy_tree(target: Path) -> Path:
    for room in ROOMS:
        shutil.copytree(REPO / room, target / room, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", target / "pyproject.toml")
    return target


def test_the_tree_keeps_every_contract() -> None:
    result = lint_imports(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        (
            "tracking/calendar.py",
            "import prefect",
            "tracking never imports prefect, notifications, services, web or cli BROKEN",
        ),
        (
            "tracking/store.py",
            "import services.day",
            "Rooms: interfaces -> services -> notifications -> tracking -> models BROKEN",
        ),
        ("cli/render.py", "import prefect", "the CLI's read commands don't import prefect BROKEN"),
        (
            "importer/text.py",
            "import tracking.store",
            "importer imports models only (of giaoviec's rooms) BROKEN",
        ),
    ],
)
def test_a_forbidden_import_breaks_its_contract(
    tmp_path: Path, module: str, line: str, contract: str
) -> None:
    root = copy_tree(tmp_path)
    path = root / module
    path.write_text(path.read_text(encoding="utf-8") + f"\n{line}  # noqa\n", encoding="utf-8")
    result = lint_imports(root)
    assert result.returncode != 0
    assert contract in result.stdout
    assert module.removesuffix(".py").replace("/", ".") in result.stdout
