"""Live venue state for every open page from one conflated stream of status queries.

However many pages are open, the venue answers at most `rate` status queries a second:
a viewer asking sooner gets the last answer. The query itself is a blocking Unix-socket
round trip (venue.control.query), run on a worker thread.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool

from venue.console.metrics import ConsoleMetrics
from venue.control import query


class VenueUnreachable(Exception):
    pass


class LiveState:
    def __init__(self, data_dir: Path, rate: float, metrics: ConsoleMetrics | None = None) -> None:
        self.metrics = metrics
        self.data_dir = data_dir
        self.interval = 1.0 / rate
        self._lock = asyncio.Lock()
        self._at = 0.0
        self._status: dict[str, Any] | None = None
        self._error: str | None = None
        self.queries = 0  # status queries sent to the venue (for tests and /metrics)

    async def get(self) -> dict[str, Any]:
        """The venue's latest status; raises VenueUnreachable when it cannot be asked."""
        async with self._lock:
            if time.monotonic() - self._at >= self.interval:
                self._at = time.monotonic()
                self.queries += 1
                started = time.perf_counter()
                try:
                    reply = await run_in_threadpool(query, self.data_dir, "status")
                except (OSError, ValueError) as exc:
                    self._status, self._error = None, f"venue not reachable: {exc}"
                else:
                    if self.metrics is not None:
                        self.metrics.queries.inc()
                        self.metrics.query_seconds.observe(time.perf_counter() - started)
                    if reply.get("ok"):
                        self._status, self._error = reply["status"], None
                    else:
                        self._status, self._error = None, str(reply.get("text"))
            if self._status is None:
                raise VenueUnreachable(self._error or "no status yet")
            return self._status
