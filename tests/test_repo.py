"""The repository keeps its promises: CI runs the README's command and the linters, the core
stays pure."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```bash\n(python3 -m venv .*)\n```", text)


def test_readme_has_the_run_and_the_test_command():
    run, test = readme_commands()[:2]
    assert run.endswith("venue run")
    assert "pytest" in test


def test_ci_runs_the_readmes_test_command_verbatim():
    test = readme_commands()[1]
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test in ci, f"{test!r} not in .ci/run"


def test_ci_runs_the_linters_as_steps_of_their_own():
    """ruff, mypy and lint-imports (the core does no I/O) fail CI from .ci/run, not pytest."""
    ci = (ROOT / ".ci" / "run").read_text()
    for step in (".venv/bin/ruff check", ".venv/bin/ruff format --check", ".venv/bin/mypy",
                 ".venv/bin/lint-imports"):  # fmt: skip
        assert step in ci, f"{step!r} not in .ci/run"


def test_core_uses_no_clock_threads_sockets_or_files():
    forbidden = {"time", "datetime", "threading", "socket", "os", "io", "random", "asyncio"}
    core = [ROOT / "venue" / "kernel.py"] + [
        p for d in ("domain", "book", "matching", "risk") for p in (ROOT / "venue" / d).glob("*.py")
    ]
    found = []
    for path in core:
        for line in path.read_text().splitlines():
            m = re.match(r"\s*(?:import|from)\s+([a-z_]+)", line)
            if m and m.group(1) in forbidden:
                found.append(f"{path.relative_to(ROOT)}: {line.strip()}")
    assert not found, found
