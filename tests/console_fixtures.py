"""Fixtures for the operator console: a venue whose TOML names console operators."""

from __future__ import annotations

from pathlib import Path

import pytest

from venue.config import FIX_CONFIG_DIR
from venue.fix.auth import hash_password

OPERATOR, PASSWORD = "alice", "correct horse battery staple"


@pytest.fixture(scope="session")
def operator_hash() -> str:
    return hash_password(PASSWORD)


@pytest.fixture
def console_reference(tmp_path: Path, operator_hash: str) -> Path:
    """The demo venue.toml plus [console.operators] alice = <scrypt hash>."""
    path = tmp_path / "venue.toml"
    demo = (FIX_CONFIG_DIR / "venue.toml").read_text()
    path.write_text(f'{demo}\n[console.operators]\n{OPERATOR} = "{operator_hash}"\n')
    return path
