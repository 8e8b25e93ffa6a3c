"""Prometheus metrics of the console (`GET /metrics`, text format, no login: scraped by
Prometheus on the console's loopback address).

Names follow Prometheus' rules: `venue_` prefix, base units, `_total` counters, no per-order
labels. The venue gauges are read from the conflated status query at scrape time, so a
scrape costs the venue no more than a page does.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
QUERY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1)


class ConsoleMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "venue_console_http_requests_total", "Console HTTP requests by route and status",
            ["route", "status"], registry=r,
        )  # fmt: skip
        self.queries = Counter(
            "venue_console_status_queries_total", "Status queries sent to the venue", registry=r
        )
        self.query_seconds = Histogram(
            "venue_console_status_query_seconds",
            "Round trip of a status query over the control channel",
            buckets=QUERY_BUCKETS, registry=r,
        )  # fmt: skip
        self.pushes = Counter(
            "venue_console_book_pushes_total", "Books updates pushed over SSE (changed only)",
            registry=r,
        )  # fmt: skip
        self.up = Gauge("venue_up", "1 if the venue answers on its control channel", registry=r)
        self.seq = Gauge("venue_event_seq", "Seq of the venue's last event", registry=r)
        self.live = Gauge("venue_live_orders", "Orders live in the books", registry=r)
        self.halted = Gauge("venue_instruments_halted", "Instruments halted now", registry=r)
        self.kills = Gauge("venue_kill_switches", "Kill switches on now", registry=r)
        self.logged_on = Gauge("venue_fix_sessions_logged_on", "FIX sessions logged on", registry=r)
        self.sessions = Gauge("venue_fix_sessions", "FIX sessions configured", registry=r)
        self.session_on = Gauge(
            "venue_fix_session_logged_on", "1 if the FIX session is logged on, by session",
            ["session", "role"], registry=r,
        )  # fmt: skip
        self.ready = Gauge(
            "venue_ready", "1 if every /ready check passes (recovered, journal, FIX port)",
            registry=r,
        )  # fmt: skip
        self.check = Gauge(
            "venue_ready_check", "Each /ready check: 1 passes, 0 fails", ["check"], registry=r
        )

    def render(self, status: dict[str, Any] | None, checks: dict[str, bool] | None = None) -> bytes:
        self.up.set(0 if status is None else 1)
        if checks is not None:
            self.ready.set(1 if all(checks.values()) else 0)
            for name, ok in checks.items():
                self.check.labels(name).set(1 if ok else 0)
        if status is not None:
            self.seq.set(status["seq"])
            self.live.set(status["live_orders"])
            self.halted.set(sum(1 for b in status["books"].values() if b["halted"]))
            self.kills.set(len(status["blocked"]))
            self.sessions.set(len(status["sessions"]))
            self.logged_on.set(sum(1 for s in status["sessions"].values() if s["logged_on"]))
            roles = status.get("session_limits", {})
            for name, state in status["sessions"].items():
                role = str(roles.get(name, {}).get("role", ""))
                self.session_on.labels(name, role).set(1 if state["logged_on"] else 0)
        return generate_latest(self.registry)
