"""Prometheus metrics of the order path, served on VENUE_METRICS_PORT (127.0.0.1; off when
unset) by prometheus_client's own HTTP thread.

Names follow Prometheus' rules: `venue_` prefix, base units, `_total` counters, no per-order
or per-ClOrdID labels. Latency histograms use microsecond-scale buckets (the library's
defaults start at 5 ms). The console reads these (its Latency page) and adds its own.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

LATENCY_BUCKETS = (
    10e-6, 25e-6, 50e-6, 100e-6, 250e-6, 500e-6,
    1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3,
)  # fmt: skip
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


class VenueMetrics:
    """One registry per venue (tests run several venues in one process)."""

    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.commands = Counter(
            "venue_commands_total", "Commands handled by the kernel, by type", ["type"],
            registry=r,
        )  # fmt: skip
        self.rejects = Counter(
            "venue_rejects_total", "Rejects sent, by reject code", ["code"], registry=r
        )
        self.batch_size = Histogram(
            "venue_batch_size", "Commands per journal batch", buckets=BATCH_BUCKETS, registry=r
        )
        self.journal_write = Histogram(
            "venue_journal_write_seconds", "Journal batch write (os.write) time",
            buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.journal_fsync = Histogram(
            "venue_journal_fsync_seconds", "Journal batch fdatasync time",
            buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.inbound_to_report = Histogram(
            "venue_inbound_to_report_seconds",
            "From an inbound FIX message to its report handed to QuickFIX",
            buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.queue_depth = Gauge(
            "venue_queue_depth", "Items waiting in a stage's queue", ["stage"], registry=r
        )
        self.reports_sent = Counter(
            "venue_reports_sent_total", "FIX messages handed to QuickFIX, by session role",
            ["role"], registry=r,
        )  # fmt: skip
        self.dropcopy_lag = Gauge(
            "venue_dropcopy_lag_messages", "Copies a drop-copy session has still to get",
            ["session"], registry=r,
        )  # fmt: skip
        self.sessions_logged_on = Gauge(
            "venue_sessions_logged_on", "FIX sessions logged on", registry=r
        )
        self.snapshot_lag = Gauge(
            "venue_snapshot_lag_records",
            "Journal records after the newest snapshot (what a restart would replay)",
            registry=r,
        )
        self.replica_restarts = Gauge(
            "venue_snapshot_replica_restarts",
            "Times the snapshot replica process was found dead and started again",
            registry=r,
        )

    def serve(self, port: int, host: str = "127.0.0.1") -> None:
        """Serve /metrics on a daemon thread of prometheus_client's (port 0: any free one)."""
        self.server, self.thread = start_http_server(port, addr=host, registry=self.registry)

    @property
    def port(self) -> int:
        return int(self.server.server_port)

    def close(self) -> None:
        server = getattr(self, "server", None)
        if server is not None:
            server.shutdown()
            server.server_close()
