"""Logon credentials: Username(553)/Password(554) checked against a stored hash.

Hashes are `scrypt$<n>$<r>$<p>$<salt hex>$<hash hex>`; only the hash is ever configured
(`venue hash-password` makes one). A check costs about 50 ms, once per logon; the
gatekeeper does it on its own thread (hashlib.scrypt releases the GIL), never QuickFIX's,
so other sessions' orders do not wait for it. LogonGuard slows password guessing down.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import time
from collections.abc import Callable

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


class Backoff:
    """Failed logons counted per key (a CompID, an address), and how long a key must wait.

    The first `free` failures in a row cost nothing; each further failure shuts the key
    for a delay that doubles: `first`, 2 x `first`, ... up to `cap` seconds after that
    failure. A successful logon clears the key; a key that has not failed for `forget`
    seconds starts again from zero. Attempts made while a key is shut are refused without
    checking the password and do not count. Used by the gatekeeper's thread only.
    """

    def __init__(
        self,
        free: int,
        first: float = 1.0,
        cap: float = 60.0,
        forget: float = 900.0,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        self.free, self.first, self.cap, self.forget = free, first, cap, forget
        self._clock = clock
        self._max_keys = max_keys
        self._failures: dict[str, tuple[int, float]] = {}  # key -> (count, last failure)

    def delay(self, count: int) -> float:
        """How long a key is shut after its count-th failure in a row."""
        if count <= self.free:
            return 0.0
        return float(min(self.cap, self.first * 2 ** min(count - self.free - 1, 32)))

    def wait(self, key: str) -> float:
        """Seconds until `key` may try again (0: now)."""
        entry = self._failures.get(key)
        if entry is None:
            return 0.0
        count, last = entry
        now = self._clock()
        if now - last >= self.forget:
            del self._failures[key]
            return 0.0
        return max(0.0, last + self.delay(count) - now)

    def failed(self, key: str) -> None:
        now = self._clock()
        count, last = self._failures.get(key, (0, now))
        if now - last >= self.forget:
            count = 0
        self._failures[key] = (count + 1, now)
        if len(self._failures) > self._max_keys:  # many addresses: drop the forgotten ones
            self._failures = {k: v for k, v in self._failures.items() if now - v[1] < self.forget}

    def succeeded(self, key: str) -> None:
        self._failures.pop(key, None)


class LogonGuard:
    """Backoff per CompID (FREE_PER_COMP_ID failures free) and per peer address
    (FREE_PER_ADDRESS free: one address may carry several sessions of a firm)."""

    FREE_PER_COMP_ID = 3
    FREE_PER_ADDRESS = 10

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.comp_ids = Backoff(self.FREE_PER_COMP_ID, clock=clock)
        self.addresses = Backoff(self.FREE_PER_ADDRESS, clock=clock)

    def refusal(self, comp_id: str, address: str) -> str | None:
        """Why a Logon from comp_id at address may not even be checked now, or None."""
        for wait, whom in (
            (self.comp_ids.wait(comp_id), f"for session {comp_id}"),
            (self.addresses.wait(address), f"from address {address}"),
        ):
            if wait > 0:
                return f"too many failed logons {whom}: try again in {math.ceil(wait)} s"
        return None

    def failed(self, comp_id: str, address: str) -> None:
        self.comp_ids.failed(comp_id)
        self.addresses.failed(address)

    def succeeded(self, comp_id: str, address: str) -> None:
        self.comp_ids.succeeded(comp_id)
        self.addresses.succeeded(address)
