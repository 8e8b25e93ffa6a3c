"""Trading phases over TCP (issue 14, spec/auctions.md): a real venue, FIX clients
(tests/fixclient.py) for order entry and the validating QuickFIX initiator of
test_marketdata for the market-data sessions (MDFEED1 FIX 4.4, MDFEED2 FIX 4.2, MDFEED5
FIX 5.0 SP2), which refuses any message not valid in its dictionary. The day is driven by
`venue ctl phase` (the CLI, the control socket).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from click.testing import CliRunner
from fixclient import FixClient, Message
from test_marketdata import entries, feed, tag, wait_until  # noqa: F401 (feed: a fixture)

from venue.cli import main as venue_cli
from venue.config import FIX_CONFIG_DIR
from venue.domain.events import PhaseChanged
from venue.domain.values import Phase
from venue.journal import decode_record, read_records

BUY, SELL, MARKET = "1", "2", "1"
__all__ = ["feed"]


def ctl(venue, *args: str) -> str:
    result = CliRunner().invoke(
        venue_cli, ["ctl", "--data-dir", str(venue.data_dir), "--operator", "olga", *args]
    )
    assert result.exit_code == 0, result.output
    return result.output


def reports(client: FixClient, n: int) -> list[Message]:
    return [client.expect("8") for _ in range(n)]


def statuses(md, comp_id: str, start: int) -> list[tuple[str | None, ...]]:
    """(326, 625, 58) of every unsolicited f the session got from message `start` on."""
    return [
        (tag(m, 326), tag(m, 625), tag(m, 58))
        for m in md.received(comp_id)[start:]
        if tag(m, 35) == "f" and tag(m, 325) == "Y"
    ]


def test_a_day_of_phases_driven_by_the_operator_with_market_data_on_every_version(feed):
    venue, md = feed
    c1 = FixClient.connect(venue.settings.port, "CLIENT1")  # FIX 4.4
    c2 = FixClient.connect(venue.settings.port, "CLIENT2")
    c3 = FixClient.connect(venue.settings.port, "CLIENT3", "FIX.4.2")
    try:
        md.request("MDFEED1", "a44", "1", 0, "01A", ["AAPL"])
        md.request("MDFEED5", "a50", "1", 0, "01QA", ["AAPL"])
        md.request("MDFEED2", "a42", "1", 0, "01", ["AAPL"])
        md.wait("MDFEED1", 1), md.wait("MDFEED5", 1), md.wait("MDFEED2", 1)

        # closed: new orders rejected (103=2), GTC stays
        c1.new_order("gtc", "AAPL", BUY, 10, "185.00", tif="1")
        c1.expect("8", ClOrdID="gtc", ExecType="0")
        assert ctl(venue, "phase", "AAPL", "closed").startswith("ok: AAPL closed")
        c2.new_order("x", "AAPL", SELL, 10, "190.00")
        c2.expect("8", ClOrdID="x", ExecType="8", OrdRejReason="2",
                  Text="AAPL is closed: no new orders")  # fmt: skip
        c3.new_order("x42", "AAPL", SELL, 10, "190.00")
        c3.expect("8", ClOrdID="x42", ExecType="8", OrdRejReason="2")

        # pre-open: OPG and market orders rest, the book crosses, indicative published
        ctl(venue, "phase", "AAPL", "pre-open")
        c1.new_order("opg", "AAPL", BUY, 30, "191.00", tif="2")
        c1.expect("8", ClOrdID="opg", ExecType="0", TimeInForce="2")
        c3.new_order("m42", "AAPL", BUY, 20, None, ord_type=MARKET)
        c3.expect("8", ClOrdID="m42", ExecType="0", OrdStatus="0")
        c2.new_order("s1", "AAPL", SELL, 40, "189.00")
        c2.expect("8", ClOrdID="s1", ExecType="0")
        # 50 to buy, 40 to sell: 40 at 189 and at 191, buy surplus at both: the highest
        assert ctl(venue, "phase", "AAPL", "auction") == ("ok: AAPL opening auction: 40 at 191\n")
        m42 = c3.expect("8", ClOrdID="m42")  # market orders first
        assert (m42[150], m42[39], m42[31], m42[32]) == ("2", "2", "191", "20")  # 4.2 fill
        opg_fill = c1.expect("8", ClOrdID="opg", ExecType="F")
        assert (opg_fill[32], opg_fill[151]) == ("20", "10")
        c1.expect("8", ClOrdID="opg", ExecType="4", OrdStatus="4",
                  Text="at the opening not executed in the opening auction")  # fmt: skip
        c2.expect("8", ClOrdID="s1", ExecType="F", OrdStatus="2", LastPx="191", LastQty="40")
        assert venue.kernel.phase["AAPL"] is Phase.CONTINUOUS

        # a volatility interruption: 2% around the last trade (191: 187.18-194.82)
        ctl(venue, "set-limit", "instrument", "AAPL", "dynamic_band_pct", "2")
        c2.new_order("s2", "AAPL", SELL, 10, "195.00")
        c2.expect("8", ClOrdID="s2", ExecType="0")
        c1.new_order("b2", "AAPL", BUY, 10, "195.00")
        c1.expect("8", ClOrdID="b2", ExecType="0")  # acknowledged; it rests for the auction
        wait_until(lambda: venue.kernel.phase["AAPL"] is Phase.CALL, lambda: "the call")
        assert ctl(venue, "phase", "AAPL", "auction") == ("ok: AAPL intraday auction: 10 at 195\n")
        c1.expect("8", ClOrdID="b2", ExecType="F", LastPx="195")
        c2.expect("8", ClOrdID="s2", ExecType="F", LastPx="195")

        # pre-close, an at-the-close order (4.4; 4.2 has no 59=7), the closing auction
        ctl(venue, "phase", "AAPL", "pre-close")
        c1.new_order("atc", "AAPL", BUY, 5, "196.00", tif="7")
        c1.expect("8", ClOrdID="atc", ExecType="0", TimeInForce="7")
        c3.new_order("atc42", "AAPL", BUY, 5, "196.00", tif="7")  # 4.2: no 59=7
        reject = c3.expect("3")
        assert (reject[371], reject[373]) == ("59", "5")  # value incorrect for this tag
        c2.new_order("s3", "AAPL", SELL, 5, "194.00")
        c2.expect("8", ClOrdID="s3", ExecType="0")
        # no surplus: the reference (the last trade, 195) lies between 194 and 196
        assert ctl(venue, "phase", "AAPL", "auction") == "ok: AAPL closing auction: 5 at 195\n"
        c1.expect("8", ClOrdID="atc", ExecType="F", OrdStatus="2")
        assert venue.kernel.phase["AAPL"] is Phase.CLOSED
        venue.marketdata.sync()

        # every MD session got a f on each phase change, valid for its version
        want = {
            "MDFEED1": [("18", "closed"), ("21", "pre-open"), ("17", None), ("21", "call"),
                        ("17", None), ("21", "pre-close"), ("18", "closed")],
            "MDFEED2": [("18", None), ("1", None), ("17", None), ("1", None), ("17", None),
                        ("1", None), ("18", None)],
            "MDFEED5": [("18", None), ("21", "2"), ("17", "3"), ("21", "9"), ("17", "3"),
                        ("21", "4"), ("18", None)],
        }  # fmt: skip
        for comp_id, expected in want.items():
            wait_until(lambda c=comp_id, e=expected: len(statuses(md, c, 0)) >= len(e),
                       lambda c=comp_id: f"f on {c}: {md.received(c)}")  # fmt: skip
            assert [s[:2] for s in statuses(md, comp_id, 0)] == expected, comp_id
        # indicative figures during the calls: 4.4 A (TradeCondition P/Q), 5.0 SP2 Q and A
        a44 = [e for m in md.received("MDFEED1") if tag(m, 35) == "X" for e in entries(m)
               if e.get(269) == "A"]  # fmt: skip
        assert a44 and a44[0][279] == "0" and a44[-1][279] == "2"
        assert any(e.get(270) == "191" and e.get(277) == "P" for e in a44)
        q50 = [e for m in md.received("MDFEED5") if tag(m, 35) == "X" for e in entries(m)
               if e.get(269) == "Q"]  # fmt: skip
        assert any(e.get(270) == "191" and e.get(271) == "40" for e in q50)
        venue.wait_until_projected()  # the new events reach SQL like every other
        assert not [m for m in md.received("MDFEED2") if tag(m, 35) == "X"
                    and any(e.get(269) in ("A", "Q") for e in entries(m))]  # fmt: skip
    finally:
        for client in (c1, c2, c3):
            client.close()


def test_a_restart_in_the_middle_of_a_call_resumes_the_call_with_every_order(
    venue_factory, fix_client_factory
):
    venue = venue_factory()
    c1 = fix_client_factory("CLIENT1")
    c2 = fix_client_factory("CLIENT2")
    ctl(venue, "phase", "AAPL", "pre-open")
    c1.new_order("m", "AAPL", BUY, 20, None, ord_type=MARKET, tif="1")
    c1.expect("8", ClOrdID="m", ExecType="0")
    c2.new_order("s", "AAPL", SELL, 30, "190.00", tif="1")
    c2.expect("8", ClOrdID="s", ExecType="0")
    fix_client_factory.close_all()  # GTC orders stay on disconnect
    venue.stop()
    state = venue.kernel.export_state()  # after the stop: every command handled

    again = venue_factory()  # recovers from the snapshot and the journal, replay checked
    assert again.kernel.export_state() == state
    assert again.kernel.phase["AAPL"] is Phase.PRE_OPEN
    c1 = fix_client_factory("CLIENT1")
    c2 = fix_client_factory("CLIENT2")
    c2.new_order("i", "AAPL", SELL, 10, "190.00", tif="3")  # still a call: IOC refused
    c2.expect("8", ClOrdID="i", ExecType="8", OrdRejReason="11")
    assert ctl(again, "phase", "AAPL", "auction") == "ok: AAPL opening auction: 20 at 190\n"
    c1.expect("8", ClOrdID="m", ExecType="F", OrdStatus="2", LastPx="190", LastQty="20")
    c2.expect("8", ClOrdID="s", ExecType="F", OrdStatus="1", LastQty="20", LeavesQty="10")


def test_the_scheduler_runs_a_schedule_on_the_wall_clock(venue_factory, tmp_path):
    """An instrument whose opening call begins 10 s from now and its auction 13 s from now
    (UTC; the venue takes 1.5-4 s to start on a loaded 2-core box): the venue's scheduler
    thread moves it, journaled with the actor `schedule`."""
    now = datetime.now(UTC)
    if now.hour == 23 and now.minute >= 58:
        now += timedelta(minutes=3)  # keep the steps within one UTC day
        time_to_wait = (now - datetime.now(UTC)).total_seconds()
    else:
        time_to_wait = 0.0

    def at(seconds: int) -> str:
        return (now + timedelta(seconds=seconds)).strftime("%H:%M:%S")

    toml = tmp_path / "venue.toml"
    toml.write_text(
        (FIX_CONFIG_DIR / "venue.toml").read_text()
        + f'\n[instruments.SCHED]\ntick = "0.01"\nreference_price = "10.00"\n'
        f'pre_open = "{at(10)}"\nopen_auction = "{at(13)}"\npre_close = "{at(7200)}"\n'
    )
    time.sleep(time_to_wait)
    venue = venue_factory(reference_config=toml)
    assert venue.kernel.phase["SCHED"] is Phase.CONTINUOUS  # not started yet
    wait_until(lambda: venue.kernel.phase["SCHED"] is Phase.PRE_OPEN, lambda: "pre-open", 40)
    wait_until(lambda: venue.kernel.phase["SCHED"] is Phase.CONTINUOUS, lambda: "the auction", 20)
    changes = [
        (e.phase.value, e.actor)
        for _, payload in read_records(venue.journal_dir)
        for e in decode_record(payload)[2]
        if type(e) is PhaseChanged and e.symbol == "SCHED"
    ]
    assert changes[-2:] == [("pre-open", "schedule"), ("continuous", "schedule")]
