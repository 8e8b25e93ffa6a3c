"""Logon credentials: Username(553)/Password(554) checked against a stored hash.

Hashes are `scrypt$<n>$<r>$<p>$<salt hex>$<hash hex>`; only the hash is ever configured
(`venue hash-password` makes one). A check costs about 50 ms, once per logon.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

_N, _R, _P = 2**14, 8, 1


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    candidate = hashlib.scrypt(
        password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=32
    )
    return hmac.compare_digest(candidate.hex(), digest)


def check_logon(
    fields: dict[str, str], username: str | None, password_hash: str | None
) -> str | None:
    """Why this Logon must be refused, or None. Sessions without credentials accept any."""
    if password_hash is None:
        return None
    if "553" not in fields or "554" not in fields:
        return "Username(553) and Password(554) are required for this session"
    if username is not None and fields["553"] != username:
        return "wrong Username(553) or Password(554)"
    if not verify_password(fields["554"], password_hash):
        return "wrong Username(553) or Password(554)"
    return None
