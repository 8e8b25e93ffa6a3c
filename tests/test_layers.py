"""The import-linter contracts in pyproject.toml hold the core's dependency direction
(domain <- book <- matching; domain <- risk; the kernel imports only those). Each case adds
one forbidden import to a copy of the package and expects lint-imports to refuse it (CI
runs lint-imports on the repository itself)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT = Path(sys.executable).parent / "lint-imports"

# (file, import added, the contract that must refuse it)
BROKEN = {
    "domain imports matching": ("domain/values.py", "import venue.matching", "core-layers"),
    "book imports the kernel": ("book/book.py", "import venue.kernel", "core-layers"),
    "matching imports risk": ("matching/engine.py", "import venue.risk.checks", "core-layers"),
    "risk imports matching": ("risk/checks.py", "import venue.matching", "core-layers"),
    "risk imports the book": ("risk/exposure.py", "import venue.book", "risk-sees-domain"),
    "the kernel imports market data": ("kernel.py", "import venue.marketdata.book",
                                       "core-only-core"),
}  # fmt: skip


def contracts() -> list[dict]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]


def lint(root: Path, contract: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT), "--no-cache", "--contract", contract, str(root / "pyproject.toml")],
        cwd=root, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_the_layers_contract_names_the_core_layers_in_order():
    [layers] = [c for c in contracts() if c["type"] == "layers"]
    assert layers["layers"] == [
        "venue.kernel", "venue.matching | venue.risk", "venue.book", "venue.domain",
    ]  # fmt: skip


@pytest.fixture(scope="module")
def copy(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("layers")
    skip = shutil.ignore_patterns("__pycache__", "static", "templates")
    shutil.copytree(ROOT / "venue", root / "venue", ignore=skip)
    shutil.copy(ROOT / "pyproject.toml", root / "pyproject.toml")
    return root


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_forbidden_import_in_the_core_breaks_its_contract(copy, case):
    name, line, contract = BROKEN[case]
    path = copy / "venue" / name
    original = path.read_text()
    assert lint(copy, contract).returncode == 0  # the copy keeps it before the change
    path.write_text(original + f"\n{line}  # noqa\n")
    try:
        result = lint(copy, contract)
    finally:
        path.write_text(original)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "BROKEN" in result.stdout and "0 kept, 1 broken" in result.stdout, result.stdout
