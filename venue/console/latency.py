"""The venue's order-path metrics as the console shows them: a scrape of the venue's
Prometheus endpoint (VENUE_METRICS_PORT, venue/metrics.py), conflated like the status
query (at most one a second however many pages are open), with a short history so the
Latency page can show the last window and a trend.

A scrape costs the venue process one render of its registry on prometheus_client's
thread (a few hundred microseconds); nothing reaches the kernel thread.
"""

from __future__ import annotations

import asyncio
import math
import time
import urllib.request
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from starlette.concurrency import run_in_threadpool

HISTOGRAMS = {
    "venue_inbound_to_report_seconds": "Inbound FIX message to its first report",
    "venue_journal_fsync_seconds": "Journal fdatasync per batch",
    "venue_journal_write_seconds": "Journal write per batch",
}
HISTORY_SECONDS = 120.0


@dataclass
class Histogram:
    bounds: list[float]  # upper bounds, the last +Inf
    cumulative: list[float]
    total: float = 0.0  # _sum
    count: float = 0.0

    def counts(self) -> list[float]:
        """Observations per bucket (not cumulative)."""
        return [c - (self.cumulative[i - 1] if i else 0.0) for i, c in enumerate(self.cumulative)]

    def minus(self, earlier: Histogram | None) -> Histogram:
        """What was observed since `earlier` (a restart of the venue: everything)."""
        if earlier is None or earlier.bounds != self.bounds or earlier.count > self.count:
            return self
        return Histogram(
            self.bounds,
            [a - b for a, b in zip(self.cumulative, earlier.cumulative, strict=True)],
            self.total - earlier.total,
            self.count - earlier.count,
        )

    def quantile(self, q: float) -> float | None:
        """Prometheus' histogram_quantile: linear inside the bucket; None when empty."""
        if not self.count:
            return None
        rank = q * self.count
        below, lower = 0.0, 0.0
        for bound, cum in zip(self.bounds, self.cumulative, strict=True):
            if cum >= rank:
                if math.isinf(bound):
                    return lower  # in +Inf: the highest finite bound is all one can say
                inside = cum - below
                return lower + (bound - lower) * ((rank - below) / inside if inside else 1.0)
            below, lower = cum, bound
        return lower

    def mean(self) -> float | None:
        return self.total / self.count if self.count else None


@dataclass
class Scrape:
    at: float
    histograms: dict[str, Histogram] = field(default_factory=dict)
    samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = field(default_factory=dict)

    def labelled(self, name: str, label: str) -> dict[str, float]:
        return {dict(k).get(label, ""): v for k, v in self.samples.get(name, {}).items()}


def parse(text: str, at: float) -> Scrape:
    scrape = Scrape(at)
    for family in text_string_to_metric_families(text):
        if family.type == "histogram":
            buckets: list[tuple[float, float]] = []
            hist = Histogram([], [])
            for s in family.samples:
                if s.name.endswith("_bucket"):
                    buckets.append((float(s.labels["le"]), s.value))
                elif s.name.endswith("_sum"):
                    hist.total = s.value
                elif s.name.endswith("_count"):
                    hist.count = s.value
            buckets.sort()
            hist.bounds = [b for b, _ in buckets]
            hist.cumulative = [c for _, c in buckets]
            scrape.histograms[family.name] = hist
        else:
            for s in family.samples:
                scrape.samples.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return scrape


def fetch(port: int, timeout: float = 2.0) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=timeout) as answer:
        return str(answer.read().decode())


class VenueMetricsReader:
    """At most one scrape every `interval` seconds, shared by every viewer."""

    def __init__(self, port: int | None, interval: float = 1.0) -> None:
        self.port = port
        self.interval = interval
        self._lock = asyncio.Lock()
        self._last: Scrape | None = None
        self._error: str | None = None
        self.history: deque[Scrape] = deque(maxlen=int(HISTORY_SECONDS / interval) + 2)
        self.scrapes = 0

    async def get(self) -> tuple[Scrape | None, str | None]:
        if self.port is None:
            return None, "the venue serves no metrics: start it with VENUE_METRICS_PORT set"
        async with self._lock:
            now = time.monotonic()
            if self._last is None or now - self._last.at >= self.interval:
                try:
                    text = await run_in_threadpool(fetch, self.port)
                except OSError as exc:
                    self._error = f"venue metrics not reachable on port {self.port}: {exc}"
                else:
                    self.scrapes += 1
                    self._last, self._error = parse(text, now), None
                    self.history.append(self._last)
            return (None, self._error) if self._error else (self._last, None)

    def view(self, scrape: Scrape) -> dict[str, Any]:
        """What the Latency page shows: per histogram the buckets since start and over the
        last window (the previous scrape ~10 s back), quantiles, and the trend."""
        older = [s for s in self.history if s.at <= scrape.at - 9.5]
        base = older[-1] if older else (self.history[0] if len(self.history) > 1 else None)
        if base is scrape:
            base = None
        out: dict[str, Any] = {"window": (scrape.at - base.at) if base else None, "charts": []}
        for name, title in HISTOGRAMS.items():
            hist = scrape.histograms.get(name)
            if hist is None:
                continue
            recent = hist.minus(base.histograms.get(name)) if base else None
            out["charts"].append(
                {
                    "name": name, "title": title, "hist": hist, "recent": recent,
                    "trend": self._trend(name),
                }
            )  # fmt: skip
        return out

    def _trend(self, name: str) -> list[tuple[float, float | None, float | None]]:
        """p50 and p99 between consecutive scrapes of the history (None: nothing observed)."""
        points = []
        history = list(self.history)
        for before, after in zip(history, history[1:], strict=False):
            a, b = after.histograms.get(name), before.histograms.get(name)
            if a is None:
                continue
            step = a.minus(b)
            points.append((after.at, step.quantile(0.5), step.quantile(0.99)))
        return points
