"""Order-path metrics: a live venue with VENUE_METRICS_PORT set, real FIX clients over TCP,
and a scrape of /metrics that must count what they sent."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import cast

import quickfix
from fix_fixtures import ClientFactory, find_free_port
from prometheus_client.parser import text_string_to_metric_families

from venue.app import Venue, _Waiter
from venue.domain.commands import ExpireDayOrders
from venue.fix.application import FixGateway
from venue.testing.harness import Harness


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
        text = answer.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_count_orders_reports_and_journal_batches(
    venue_factory: Callable[..., Venue], fix_client_factory: ClientFactory
) -> None:
    port = find_free_port()
    venue_factory(metrics_port=port)
    before = scrape(port)
    assert before[("venue_sessions_logged_on", ())] == 0
    buyer, seller = fix_client_factory("CLIENT1"), fix_client_factory("CLIENT2")
    for i in range(3):
        buyer.new_order(f"B{i}", "AAPL", "1", 100, "190.00")
        buyer.expect("8", ExecType="0")
    seller.new_order("S0", "AAPL", "2", 300, "190.00")
    seller.expect("8", ExecType="0")
    seller.expect("8", ExecType="F", OrdStatus="1")
    seller.expect("8", ExecType="F", OrdStatus="1")
    seller.expect("8", ExecType="F", OrdStatus="2")
    # The counter moves just after each hand-over to QuickFIX: poll briefly for the last one.
    sent_key = ("venue_reports_sent_total", (("role", "order_entry"),))
    deadline = time.monotonic() + 5
    while (after := scrape(port)).get(sent_key, 0) < 10 and time.monotonic() < deadline:
        time.sleep(0.01)

    assert after[("venue_sessions_logged_on", ())] == 2
    assert after[("venue_commands_total", (("type", "NewOrder"),))] == 4
    assert after[sent_key] == 4 + 3 + 3  # an ack per order, 3 fills to each side
    batches = after[("venue_journal_fsync_seconds_count", ())]
    assert 1 <= batches <= 4  # one per group commit: at most one per order here
    assert after[("venue_journal_write_seconds_count", ())] == batches
    assert after[("venue_batch_size_sum", ())] >= 4
    assert after[("venue_journal_fsync_seconds_sum", ())] > 0


def wait_for(port: int, ok: Callable[[dict], bool], what: str) -> dict:
    deadline = time.monotonic() + 10
    while not ok(got := scrape(port)):
        assert time.monotonic() < deadline, f"{what}: not seen in 10 s"
        time.sleep(0.02)
    return got


def test_metrics_time_reports_count_rejects_by_code_and_drop_copy_lag(
    venue_factory: Callable[..., Venue], fix_client_factory: ClientFactory
) -> None:
    port = find_free_port()
    venue_factory(metrics_port=port)
    lag = {s: ("venue_dropcopy_lag_messages", (("session", s),)) for s in ("DROPCOPY", "DROPCOPY1")}
    before = scrape(port)
    assert before[("venue_inbound_to_report_seconds_count", ())] == 0
    assert before[lag["DROPCOPY"]] == before[lag["DROPCOPY1"]] == 0
    buyer, seller = fix_client_factory("CLIENT1"), fix_client_factory("CLIENT2")  # FIRM1, FIRM2
    buyer.new_order("bad", "NOSUCH", "1", 100, "1.00")
    buyer.expect("8", ClOrdID="bad", ExecType="8")
    buyer.cancel("c-none", "never-sent", "AAPL", "1", qty=100)
    buyer.expect("9", ClOrdID="c-none")
    buyer.new_order("B0", "AAPL", "1", 100, "190.00")
    buyer.expect("8", ClOrdID="B0", ExecType="0")
    seller.new_order("S0", "AAPL", "2", 100, "190.00")
    seller.expect("8", ClOrdID="S0", ExecType="0")
    seller.expect("8", ClOrdID="S0", ExecType="F")
    buyer.expect("8", ClOrdID="B0", ExecType="F")
    # Four FIX commands, each answered: four observations, however the reports batch.
    after = wait_for(
        port, lambda m: m[("venue_inbound_to_report_seconds_count", ())] == 4, "4 timings"
    )
    assert 0 < after[("venue_inbound_to_report_seconds_sum", ())] < 4 * 5.0
    le_100ms = ("venue_inbound_to_report_seconds_bucket", (("le", "0.1"),))
    assert after[le_100ms] >= 1  # a real spread over the buckets, not one +Inf lump
    assert after[("venue_rejects_total", (("code", "UNKNOWN_SYMBOL"),))] == 1
    assert after[("venue_rejects_total", (("code", "UNKNOWN_ORDER"),))] == 1
    # Neither drop copy is logged on: every copy it is entitled to is owed. DROPCOPY sees
    # every firm (reject, cancel reject, 2 acks, 2 fills), DROPCOPY1 FIRM1's only. The last
    # fill's copy is counted just after its report is sent: wait for it, not for a moment.
    after = wait_for(port, lambda m: m[lag["DROPCOPY"]] >= 6, "6 copies owed")
    assert after[lag["DROPCOPY"]] == 6
    assert after[lag["DROPCOPY1"]] == 4
    copy = fix_client_factory("DROPCOPY")
    got = wait_for(port, lambda m: m[lag["DROPCOPY"]] == 0, "DROPCOPY caught up")
    assert got[lag["DROPCOPY1"]] == 4
    copy.drain(quiet=0.3)
    assert len({m.get(17) for m in copy.received if m.get(35) == "8"}) == 5


def test_inbound_to_report_stays_with_its_command_across_a_commit_inside_the_batch(
    tmp_path: Path,
) -> None:
    """One kernel batch: a FIX order, the day's end (which commits mid-batch for market
    data), another FIX order. Each order is timed once, at its own first report."""
    with Harness(tmp_path) as h:
        h.gateway._submit = h.venue._inbound  # stamped as the live gateway's hand-over is
        h.logon("CLIENT1")
        timed = h.venue.metrics.inbound_to_report

        def arrive(cl_ord_id: str) -> None:  # into the inbox, not yet run
            text = h.text("CLIENT1", "D", [(11, cl_ord_id), (55, "AAPL"), (54, "1"),
                                           (38, "100"), (40, "2"), (44, "189.00")])  # fmt: skip
            session_id = quickfix.SessionID(h.begin_string("CLIENT1"), "VENUE", "CLIENT1")
            FixGateway._from_app(cast(FixGateway, h.gateway), text, session_id)

        arrive("before")
        h.venue.inbox.put(_Waiter(ExpireDayOrders(h.clock() + 1)))
        arrive("after")
        h.pump()
        assert [m[11] for m in h.received("CLIENT1") if m[35] == "8"][:1] == ["before"]
        samples = {s.name: s.value for s in timed.collect()[0].samples if not s.labels}
        assert samples["venue_inbound_to_report_seconds_count"] == 2
        assert not h.venue._arrivals
