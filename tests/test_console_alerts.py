"""The example alert rules and Grafana dashboard in docs/ name only metrics the venue and
the console really export: both files are parsed, and every `venue_*` name in them is
looked up in a scrape of a live venue's metrics port and of the console's /metrics."""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from console_fixtures import OPERATOR
from fix_fixtures import ClientFactory, find_free_port
from starlette.testclient import TestClient

from venue.app import Venue
from venue.console.app import create_app

DOCS = Path(__file__).resolve().parent.parent / "docs"
NAME = re.compile(r"\bvenue_[a-z0-9_]+\b")
DURATION = re.compile(r"^\d+[smhd]$")
WANTED = {
    "VenueDown", "VenueNotReady", "InboundToReportP99High", "JournalFsyncSlow",
    "DropCopyLag", "RejectsSpike", "FixSessionLoggedOff", "VenueSnapshotsBehind",
}  # fmt: skip


def load_yaml(text: str) -> dict:
    try:
        import yaml
    except ImportError:  # not a skip: the check must run wherever the tests run
        pytest.fail("pyyaml is in the test extras: pip install -e '.[test]'")
    return dict(yaml.safe_load(text))


def exported(text: str) -> set[str]:
    """Every name a scrape can be queried by: sample names, and each TYPE'd family with
    its histogram series (so a counter with no children yet still counts)."""
    names = {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line[:1] != "#"}
    for kind_line in re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M):
        name, kind = kind_line
        names.add(name)
        if kind == "histogram":
            names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
    return names - {""}


def balanced(expr: str) -> bool:
    depth = {"(": 0, "[": 0, "{": 0}
    close = {")": "(", "]": "[", "}": "{"}
    for ch in re.sub(r'"[^"]*"', "", expr):
        if ch in depth:
            depth[ch] += 1
        elif ch in close:
            depth[close[ch]] -= 1
            if depth[close[ch]] < 0:
                return False
    return not any(depth.values())


def test_alert_rules_and_dashboard_parse_and_name_only_exported_metrics(
    venue_factory: Callable[..., Venue],
    fix_client_factory: ClientFactory,
    console_reference: Path,
    operator_hash: str,
) -> None:
    rules = load_yaml((DOCS / "prometheus-alerts.yml").read_text())
    alerts = [rule for group in rules["groups"] for rule in group["rules"]]
    assert all(group["name"] and group["rules"] for group in rules["groups"])
    names = [rule["alert"] for rule in alerts]
    assert len(names) == len(set(names)) and set(names) >= WANTED
    for rule in alerts:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule["alert"]
        assert rule["labels"]["severity"] in ("page", "warn", "info")
        assert rule["annotations"]["summary"]
        assert DURATION.match(rule.get("for", "0s")), rule["alert"]
        assert balanced(rule["expr"]), rule["alert"]
    dashboard = json.loads((DOCS / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    assert len(exprs) >= 10 and all(balanced(e) for e in exprs)
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])

    port = find_free_port()
    venue = venue_factory(metrics_port=port, reference_config=console_reference)
    client = fix_client_factory("CLIENT1")
    client.new_order("a1", "AAPL", "1", 100, "189.00")
    client.expect("8", ClOrdID="a1", ExecType="0")
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
        from_venue = exported(answer.read().decode())
    console = TestClient(
        create_app(venue.data_dir, venue.settings.db_url, {OPERATOR: operator_hash})
    )
    console_metrics = console.get("/metrics")
    assert console_metrics.status_code == 200 and "venue_ready 1.0" in console_metrics.text
    known = from_venue | exported(console_metrics.text)

    texts = {
        "prometheus-alerts.yml": (DOCS / "prometheus-alerts.yml").read_text(),
        "grafana-dashboard.json": (DOCS / "grafana-dashboard.json").read_text(),
    }
    for file, text in texts.items():
        used = set(NAME.findall(text))
        assert len(used) >= 8, file
        assert used <= known, f"{file} names metrics nobody exports: {sorted(used - known)}"
    # And the venue's order path is really where the latency alerts look.
    assert {"venue_inbound_to_report_seconds_bucket", "venue_journal_fsync_seconds_bucket",
            "venue_dropcopy_lag_messages", "venue_rejects_total"} <= from_venue  # fmt: skip
