"""Console operators: name -> scrypt hash under [console.operators] in the venue's TOML.

    [console.operators]
    alice = "scrypt$16384$8$1$..."   # from `venue hash-password`

Only hashes are configured, never a password. The session cookie is signed (Starlette's
SessionMiddleware, itsdangerous) with a secret kept in <data_dir>/console.secret (0600,
created on first start). Failed logins back off per operator name (venue.fix.auth.Backoff).
"""

from __future__ import annotations

import os
import secrets
import tomllib
from pathlib import Path

from venue.fix.auth import Backoff, verify_password

SECRET_NAME = "console.secret"


def load_operators(reference_config: Path) -> dict[str, str]:
    with open(reference_config, "rb") as f:
        data = tomllib.load(f)
    operators = data.get("console", {}).get("operators", {})
    return {str(name): str(digest) for name, digest in operators.items()}


def ensure_secret(data_dir: Path) -> str:
    path = data_dir / SECRET_NAME
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    os.chmod(path, 0o600)
    return path.read_text().strip()


class Operators:
    def __init__(self, hashes: dict[str, str]) -> None:
        self.hashes = hashes
        self.backoff = Backoff(free=3, first=1.0, cap=60.0)

    def check(self, name: str, password: str) -> str | None:
        """Why this login is refused, or None. Costs one scrypt (~50 ms): call off the loop."""
        wait = self.backoff.wait(name)
        if wait > 0:
            return f"too many failed logins for {name}: try again in {int(wait) + 1} s"
        stored = self.hashes.get(name)
        # An unknown name costs a hash too, so timing does not tell which names exist.
        ok = verify_password(password, stored or _DUMMY) and stored is not None
        if not ok:
            self.backoff.failed(name)
            return "wrong operator name or password"
        self.backoff.succeeded(name)
        return None


_DUMMY = "scrypt$16384$8$1$" + "00" * 16 + "$" + "00" * 32
