"""Trading phases, call auctions and volatility interruptions, in process (issue 14,
spec/auctions.md): the live venue's codec, kernel, journal and report path on the harness
with its injected clock; operator commands through the real `venue ctl` and control socket.

Demo reference data (fix_config/venue.toml): AAPL reference 190.00, collar 10%, no
schedule; CLIENT1 (FIX 4.4, FIRM1), CLIENT2 (FIX 4.4, FIRM2), CLIENT3 (FIX 4.2, FIRM1).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from fixclient import Message
from harness_fixtures import HarnessClient

from venue.domain.commands import ExpireOrders, ScheduleTick
from venue.domain.events import IndicativeChanged, PhaseChanged, TradeExecuted
from venue.domain.values import PRICE_SCALE, OrdType, Phase, Side, TimeInForce
from venue.testing.harness import Clock, Harness

BUY, SELL, MARKET = "1", "2", "1"
PX = PRICE_SCALE


def fields(msg: Message, *tags: int) -> tuple[str | None, ...]:
    return tuple(msg.get(t) for t in tags)


def reports(client: HarnessClient) -> list[Message]:
    return [m for m in client.drain() if m.get(35) in ("8", "9")]


def by_cl(msgs: list[Message]) -> dict[str, list[Message]]:
    out: dict[str, list[Message]] = {}
    for m in msgs:
        out.setdefault(m[11], []).append(m)
    return out


@pytest.fixture
def day(harness_factory):
    h: Harness = harness_factory()
    c1 = HarnessClient.logged_on_to(h, "CLIENT1")
    c2 = HarnessClient.logged_on_to(h, "CLIENT2")
    return h, c1, c2


def journaled(h: Harness, kind: type) -> list:
    """Every event of this type in the venue's journal, in order."""
    from venue.journal import decode_record, read_records

    return [
        e
        for _, payload in read_records(h.venue.journal_dir)
        for e in decode_record(payload)[2]
        if type(e) is kind
    ]


def acks(client: HarnessClient, *cls: str) -> None:
    got = reports(client)
    assert [(m[11], m[150]) for m in got] == [(cl, "0") for cl in cls], got


# -- phases and calls ------------------------------------------------------------------------


def test_a_call_accepts_orders_matches_nothing_and_its_auction_uncrosses_at_one_price(day):
    h, c1, c2 = day
    assert h.ctl("phase", "AAPL", "pre-open") == (
        "ok: AAPL pre-open: orders collected for the opening auction\n"
    )
    c1.new_order("b1", "AAPL", BUY, 100, "191")
    c2.new_order("s1", "AAPL", SELL, 100, "189")  # crosses b1: nothing trades in a call
    c1.new_order("m1", "AAPL", BUY, 50, None, ord_type=MARKET)  # rests for the auction
    c2.new_order("s2", "AAPL", SELL, 100, "190")
    acks(c1, "b1", "m1")
    acks(c2, "s1", "s2")
    h.kernel.check_invariants()  # the book may be crossed in a call
    # buys 50 mkt + 100@191, sells 100@189 + 100@190: 150 at 190 and 191, sell surplus 50
    # at both: the lowest, 190
    assert h.ctl("phase", "AAPL", "auction") == "ok: AAPL opening auction: 150 at 190\n"
    got1, got2 = by_cl(reports(c1)), by_cl(reports(c2))
    assert [fields(m, 150, 39, 31, 32, 151) for m in got1["m1"]] == [("F", "2", "190", "50", "0")]
    assert [fields(m, 150, 39, 31, 32, 151) for m in got1["b1"]] == [("F", "2", "190", "100", "0")]
    assert [fields(m, 150, 39, 31, 32) for m in got2["s1"]] == [("F", "2", "190", "100")]
    assert [fields(m, 150, 39, 31, 32, 151) for m in got2["s2"]] == [
        ("F", "1", "190", "50", "50")
    ]  # one allocation per order, the rest stays in the book
    assert h.kernel.phase["AAPL"] is Phase.CONTINUOUS
    h.kernel.check_invariants()  # uncrossed
    c1.new_order("b2", "AAPL", BUY, 50, "190")  # continuous again: trades on arrival
    assert [fields(m, 150, 31) for m in reports(c1)] == [("0", None), ("F", "190")]


def test_orders_that_cannot_wait_for_an_auction_are_rejected_in_a_call(day):
    h, c1, _ = day
    h.ctl("phase", "AAPL", "pre-close")
    c1.new_order("i", "AAPL", BUY, 10, "190", tif="3")
    c1.new_order("f", "AAPL", BUY, 10, "190", tif="4")
    c1.new_order("k", "AAPL", BUY, 10, None, ord_type="K")
    c1.new_order("p", "AAPL", BUY, 10, "190", ExecInst="6")
    c1.new_order("o", "AAPL", BUY, 10, "190", tif="2")
    got = {m[11]: (m[150], m[103], m[58]) for m in reports(c1)}
    why = "during a call: AAPL is in the pre-close call, orders rest for the auction"
    assert got == {
        "i": ("8", "11", f"TimeInForce(59)=3 is not accepted {why}"),
        "f": ("8", "11", f"TimeInForce(59)=4 is not accepted {why}"),
        "k": ("8", "11", f"market-to-limit (40=K) is not accepted {why}"),
        "p": ("8", "11", f"post-only (18=6) is not accepted {why}"),
        "o": ("8", "11", "TimeInForce(59)=2 (at the opening) is not accepted now: AAPL is in "
                         "the pre-close call, it is taken in the pre-open call only"),
    }  # fmt: skip
    c1.new_order("st", "AAPL", BUY, 10, None, ord_type="3", StopPx="195")  # stops park
    assert [fields(m, 150, 39) for m in reports(c1)] == [("0", "0")]
    assert len(h.kernel.engines["AAPL"].parked) == 1


def test_closed_rejects_new_orders_and_replaces_keeps_gtc_and_allows_cancels(day):
    h, c1, _ = day
    c1.new_order("gtc", "AAPL", BUY, 10, "189", tif="1")
    c1.new_order("dayo", "AAPL", BUY, 10, "188")
    acks(c1, "gtc", "dayo")
    assert h.ctl("phase", "AAPL", "closed") == (
        "ok: AAPL closed: new orders rejected, resting orders stay\n"
    )
    assert reports(c1) == []  # resting orders stay, nobody is told anything
    c1.new_order("n", "AAPL", BUY, 10, "189")
    c1.replace("r", "gtc", "AAPL", BUY, 5, "189", tif="1")
    c1.cancel("c", "dayo", "AAPL", BUY)
    got = reports(c1)
    assert fields(got[0], 11, 150, 39, 103, 58) == (
        "n", "8", "8", "2", "AAPL is closed: no new orders"
    )  # fmt: skip
    assert fields(got[1], 35, 11, 434, 102, 58) == (
        "9", "r", "2", "2", "AAPL is closed: no replaces"
    )  # fmt: skip
    assert fields(got[2], 11, 150, 39) == ("c", "4", "4")
    h.end_of_day()  # Day orders expire at the day's end as always; GTC stays
    assert [o.cl_ord_id for o in h.kernel.live.values()] == ["gtc"]


def test_operator_phase_requests_that_make_no_sense_are_refused_and_change_nothing(day):
    h, _, _ = day
    code, out = h.run_ctl("phase", "AAPL", "auction")
    assert (code, out) == (
        1, "refused: AAPL is continuous: an auction ends a call (pre-open, pre-close or a "
           "call)\n",
    )  # fmt: skip
    assert h.run_ctl("phase", "AAPL", "continuous") == (
        1, "refused: AAPL is already continuous\n"
    )  # fmt: skip
    assert h.run_ctl("phase", "NOPE", "closed") == (1, "refused: unknown symbol NOPE\n")
    assert h.run_ctl("phase", "AAPL", "lunch")[0] == 2  # the CLI knows the phases
    h.ctl("halt", "AAPL")
    assert h.run_ctl("phase", "AAPL", "pre-open") == (
        1, "refused: AAPL is halted: resume it first\n"
    )  # fmt: skip
    assert h.kernel.phase["AAPL"] is Phase.CONTINUOUS


def test_leaving_a_call_for_continuous_runs_its_auction_and_closing_cancels_market_orders(day):
    h, c1, c2 = day
    h.ctl("phase", "AAPL", "pre-open")
    c1.new_order("b", "AAPL", BUY, 10, "191")
    c2.new_order("s", "AAPL", SELL, 10, "189")
    reports(c1), reports(c2)
    assert h.ctl("phase", "AAPL", "continuous") == "ok: AAPL opening auction: 10 at 190\n"
    assert [fields(m, 150, 31) for m in reports(c1)] == [("F", "190")]
    h.ctl("phase", "AAPL", "pre-close")
    c1.new_order("m", "AAPL", BUY, 10, None, ord_type=MARKET)
    reports(c1)
    h.ctl("phase", "AAPL", "closed")  # closed without the closing auction
    (cancel,) = reports(c1)
    assert fields(cancel, 11, 150, 39, 58) == (
        "m", "4", "4", "market order canceled: the pre-close call ended without an auction"
    )  # fmt: skip
    h.kernel.check_invariants()


# -- at the opening, at the close ------------------------------------------------------------


def test_at_the_opening_and_at_the_close_orders_take_part_only_in_their_auction(day):
    h, c1, c2 = day
    c1.new_order("opg-early", "AAPL", BUY, 10, "190", tif="2")
    c1.new_order("atc-early", "AAPL", BUY, 10, "190", tif="7")
    got = {m[11]: (m[150], m[103], m[58]) for m in reports(c1)}
    assert got == {
        "opg-early": ("8", "11", "TimeInForce(59)=2 (at the opening) is not accepted now: AAPL "
                                 "is in continuous trading, it is taken in the pre-open call only"),
        "atc-early": ("8", "11", "TimeInForce(59)=7 (at the close) is not accepted now: AAPL is "
                                 "in continuous trading, it is taken in the pre-close call only"),
    }  # fmt: skip
    h.ctl("phase", "AAPL", "pre-open")
    c1.new_order("opg", "AAPL", BUY, 30, "190", tif="2")
    c2.new_order("s", "AAPL", SELL, 10, "190")
    acks(c1, "opg")
    reports(c2)
    h.ctl("phase", "AAPL", "auction")
    fill, cancel = reports(c1)
    assert fields(fill, 11, 150, 39, 32, 151) == ("opg", "F", "1", "10", "20")
    assert fields(cancel, 11, 150, 39, 14, 151, 58) == (
        "opg", "4", "4", "10", "0", "at the opening not executed in the opening auction"
    )  # fmt: skip
    c2.new_order("s2", "AAPL", SELL, 10, "191")  # rests in continuous trading
    reports(c2)
    h.ctl("phase", "AAPL", "pre-close")
    c1.new_order("atc", "AAPL", BUY, 5, None, ord_type=MARKET, tif="7")
    c1.new_order("atc2", "AAPL", BUY, 100, "185", tif="7")
    acks(c1, "atc", "atc2")
    assert h.ctl("phase", "AAPL", "auction") == "ok: AAPL closing auction: 5 at 191\n"
    got = [fields(m, 11, 150, 39, 31, 32, 58) for m in reports(c1)]
    assert got == [
        ("atc", "F", "2", "191", "5", None),
        ("atc2", "4", "4", None, None, "at the close not executed in the closing auction"),
    ]
    assert h.kernel.phase["AAPL"] is Phase.CLOSED


def test_a_replace_keeps_at_the_opening_and_cannot_turn_an_order_into_one(day):
    h, c1, _ = day
    h.ctl("phase", "AAPL", "pre-open")
    c1.new_order("o", "AAPL", BUY, 10, "190", tif="2")
    c1.new_order("d", "AAPL", BUY, 10, "190")
    reports(c1)
    c1.replace("o2", "o", "AAPL", BUY, 20, "190", tif="2")
    c1.replace("d2", "d", "AAPL", BUY, 20, "190", tif="2")
    ok, refused = reports(c1)
    assert fields(ok, 11, 150, 59, 38) == ("o2", "5", "2", "20")
    assert fields(refused, 35, 11, 434) == ("9", "d2", "2")
    assert "to or from 2 (at the opening)" in refused[58]


# -- restart, replay --------------------------------------------------------------------------


def test_a_restart_in_the_middle_of_a_call_keeps_the_call_and_its_orders(harness_factory):
    clock = Clock()
    h = harness_factory(clock=clock)
    c1 = HarnessClient.logged_on_to(h, "CLIENT1")
    c2 = HarnessClient.logged_on_to(h, "CLIENT2")
    c1.new_order("gtc", "AAPL", BUY, 10, "191", tif="1")
    h.ctl("phase", "AAPL", "pre-open")
    c1.new_order("m", "AAPL", BUY, 20, None, ord_type=MARKET, tif="1")
    c2.new_order("s", "AAPL", SELL, 40, "189", tif="1")
    before = h.kernel.export_state()
    h2 = h.restart()  # a snapshot at the stop
    assert h2.kernel.export_state() == before
    assert h2.kernel.phase["AAPL"] is Phase.PRE_OPEN and len(h2.kernel.live) == 3
    h2.kernel.check_invariants()
    # and without any snapshot: the whole journal replays to the same state (each record's
    # events checked against the recorded ones, or the restart fails)
    h2.close()
    shutil.rmtree(Path(h2.venue.snapshot_dir))
    h3 = Harness(h.data_dir, clock=clock)
    assert h3.kernel.export_state() == before
    events = h3.execute(ExpireOrders())  # nothing due: the call goes on
    assert events == []
    c1 = HarnessClient.logged_on_to(h3, "CLIENT1")
    h3.ctl("phase", "AAPL", "auction")
    got = [fields(m, 11, 150, 31, 32) for m in reports(c1)]
    # 30 at 189 and 191, sell surplus 10 at both: the lowest; market orders first
    assert got == [("m", "F", "189", "20"), ("gtc", "F", "189", "10")]
    h3.close()


# -- volatility interruption -------------------------------------------------------------------


def test_a_trade_outside_the_dynamic_band_interrupts_trading_until_a_call_and_auction(day):
    h, c1, c2 = day
    h.ctl("set-limit", "instrument", "AAPL", "dynamic_band_pct", "2")
    h.ctl("set-limit", "instrument", "AAPL", "interruption_secs", "60")
    c2.new_order("s1", "AAPL", SELL, 10, "190")
    c1.new_order("b1", "AAPL", BUY, 10, "190")  # last trade 190: band 186.20-193.80
    c2.new_order("s2", "AAPL", SELL, 10, "193")
    c2.new_order("s3", "AAPL", SELL, 10, "195")
    reports(c1), reports(c2)
    c1.new_order("b2", "AAPL", BUY, 30, "195")  # 193 trades, 195 would print outside
    got = [fields(m, 11, 150, 39, 31, 32, 151) for m in reports(c1)]
    assert got == [("b2", "0", "0", None, None, "30"), ("b2", "F", "1", "193", "10", "20")]
    assert h.kernel.phase["AAPL"] is Phase.CALL
    change = journaled(h, PhaseChanged)[-1]
    assert change.actor == "volatility" and change.text == (
        "AAPL volatility interruption: a trade at 195 would print outside the band "
        "186.2-193.8; call for 60s, then an auction"
    )
    # the aggressor's remainder rests for the auction (never a reject of an acked order)
    assert h.kernel._live_by_cl[("CLIENT1", "b2")].leaves_qty == 20
    assert [fields(m, 11, 150) for m in reports(c2)] == [("s2", "F")]
    c2.new_order("s4", "AAPL", SELL, 5, "194")  # accepted in the call, nothing trades
    assert [fields(m, 150) for m in reports(c2)] == [("0",)]
    h.clock.advance(59)
    assert h.execute(ExpireOrders()) == []
    h.clock.advance(1)
    events = h.execute(ExpireOrders())  # the scheduler's tick: the call ends, its auction
    trades = [e for e in events if type(e) is TradeExecuted]
    assert [(t.price, t.qty, t.auction) for t in trades] == [
        (195 * PX, 5, True), (195 * PX, 10, True)
    ]  # fmt: skip
    assert h.kernel.phase["AAPL"] is Phase.CONTINUOUS
    h.kernel.check_invariants()


def test_a_market_order_that_would_print_outside_the_static_band_rests_for_the_auction(day):
    h, c1, c2 = day
    h.ctl("set-limit", "instrument", "AAPL", "static_band_pct", "1")  # 188.10-191.90
    c2.new_order("s1", "AAPL", SELL, 10, "191")
    c2.new_order("s2", "AAPL", SELL, 10, "193")
    reports(c2)
    c1.new_order("m", "AAPL", BUY, 15, None, ord_type=MARKET)
    got = [fields(m, 150, 39, 32, 151) for m in reports(c1)]
    assert got == [("0", "0", None, "15"), ("F", "1", "10", "5")]  # no cancel: it waits
    assert h.kernel.phase["AAPL"] is Phase.CALL
    assert list(h.kernel.engines["AAPL"].call_market) == [3]
    h.ctl("phase", "AAPL", "auction")
    assert [fields(m, 150, 31, 32) for m in reports(c1)] == [("F", "193", "5")]


def test_resume_after_a_halt_goes_through_a_call_of_the_configured_length(day):
    h, c1, c2 = day
    h.ctl("set-limit", "instrument", "AAPL", "resume_call_secs", "30")
    h.ctl("halt", "AAPL")
    assert h.ctl("resume", "AAPL") == "ok: AAPL resumed: call for 30s, then an auction\n"
    assert h.kernel.phase["AAPL"] is Phase.CALL
    c1.new_order("b", "AAPL", BUY, 10, "191")
    c2.new_order("s", "AAPL", SELL, 10, "190")
    assert [fields(m, 150) for m in reports(c1)] == [("0",)]
    h.clock.advance(30)
    h.execute(ExpireOrders())
    assert [fields(m, 150, 31) for m in reports(c1)] == [("F", "190")]
    assert h.kernel.phase["AAPL"] is Phase.CONTINUOUS


def test_a_call_ends_with_one_extension_when_the_indicative_price_is_far_from_the_reference(
    day,
):
    h, c1, c2 = day
    for field, value in (("extension_pct", "1"), ("extension_secs", "20"),
                         ("resume_call_secs", "10")):  # fmt: skip
        h.ctl("set-limit", "instrument", "AAPL", field, value)
    h.ctl("halt", "AAPL")
    h.ctl("resume", "AAPL")
    c1.new_order("b", "AAPL", BUY, 10, "195")
    c2.new_order("s", "AAPL", SELL, 10, "195")  # indicative 195: 2.6% from 190
    h.clock.advance(10)
    (extended,) = h.execute(ExpireOrders())
    assert type(extended) is PhaseChanged and extended.phase is extended.previous is Phase.CALL
    assert extended.text == (
        "AAPL call extended by 20s: indicative price 195 is more than 1% from the reference 190"
    )
    h.clock.advance(20)
    events = h.execute(ExpireOrders())  # extended once only: the auction now
    assert [e.price for e in events if type(e) is TradeExecuted] == [195 * PX]


# -- the schedule -----------------------------------------------------------------------------


def at(clock: Clock, day: str, hhmm: str) -> None:
    from datetime import UTC, datetime

    when = datetime.fromisoformat(f"{day}T{hhmm}:00").replace(tzinfo=UTC)
    clock.now = int(when.timestamp()) * 1_000_000


def test_a_scheduled_day_runs_its_calls_and_auctions_on_the_clock(harness_factory):
    """ACME (fix_config/venue.toml): pre-open 07:30, opening auction 08:00, pre-close
    16:25, closing auction 16:30, closed 16:35 (UTC); the scheduler's tick is ScheduleTick."""
    clock = Clock()
    at(clock, "2026-12-02", "07:00")
    h = harness_factory(clock=clock)
    c1 = HarnessClient.logged_on_to(h, "CLIENT1")
    c2 = HarnessClient.logged_on_to(h, "CLIENT2")
    c1.new_order("early", "ACME", BUY, 10, "100")  # the schedule starts: closed until 07:30
    (early,) = reports(c1)
    assert fields(early, 150, 103, 58) == ("8", "2", "ACME is closed: no new orders")
    assert h.kernel.next_phase_due() == clock.now + 30 * 60 * 1_000_000
    at(clock, "2026-12-02", "07:30")
    h.execute(ScheduleTick())
    assert h.kernel.phase["ACME"] is Phase.PRE_OPEN
    c1.new_order("b", "ACME", BUY, 10, "101")
    c1.new_order("opg", "ACME", BUY, 5, None, ord_type=MARKET, tif="2")
    c2.new_order("s", "ACME", SELL, 20, "99")
    reports(c1), reports(c2)
    at(clock, "2026-12-02", "08:00")
    h.execute(ScheduleTick())  # 15 at 99..101, sell surplus 5: the lowest, 99
    assert [fields(m, 11, 150, 31, 32) for m in reports(c1)] == [
        ("opg", "F", "99", "5"), ("b", "F", "99", "10")
    ]  # fmt: skip
    assert h.kernel.phase["ACME"] is Phase.CONTINUOUS
    c1.new_order("b2", "ACME", BUY, 5, "99")  # continuous: trades with the rest of s
    assert [fields(m, 150) for m in reports(c1)] == [("0",), ("F",)]
    at(clock, "2026-12-02", "16:25")
    h.execute(ScheduleTick())
    assert h.kernel.phase["ACME"] is Phase.PRE_CLOSE
    c1.new_order("atc", "ACME", BUY, 5, "100", tif="7")
    c2.new_order("s2", "ACME", SELL, 5, "100")
    reports(c1), reports(c2)
    at(clock, "2026-12-02", "16:30")
    h.execute(ScheduleTick())
    assert [fields(m, 11, 150, 31) for m in reports(c1)] == [("atc", "F", "100")]
    assert h.kernel.phase["ACME"] is Phase.CLOSED
    at(clock, "2026-12-03", "07:30")  # the next day: the schedule goes round
    h.execute(ScheduleTick())
    assert h.kernel.phase["ACME"] is Phase.PRE_OPEN
    changes = [(e.previous.value, e.phase.value, e.actor) for e in journaled(h, PhaseChanged)]
    assert changes == [
        ("continuous", "closed", "schedule"), ("closed", "pre-open", "schedule"),
        ("pre-open", "continuous", "schedule"), ("continuous", "pre-close", "schedule"),
        ("pre-close", "closed", "schedule"), ("closed", "pre-open", "schedule"),
    ]  # fmt: skip
    assert h.kernel.phase["AAPL"] is Phase.CONTINUOUS  # no schedule: continuous all day


def test_indicative_price_is_journaled_on_each_change_during_a_call(day):
    h, c1, c2 = day
    h.ctl("phase", "AAPL", "pre-open")
    c1.new_order("b", "AAPL", BUY, 10, "191")
    c2.new_order("s", "AAPL", SELL, 4, "189")
    c2.new_order("s2", "AAPL", SELL, 4, "189")
    c1.cancel("bx", "b", "AAPL", BUY)
    seen = [(e.price, e.volume, e.surplus, e.surplus_side) for e in journaled(h, IndicativeChanged)]
    assert seen == [
        (None, 0, 0, None),  # the call begins (and b alone changes nothing): no price
        (191 * PX, 4, 6, Side.BUY),  # buy surplus at 189 and 191: the highest
        (191 * PX, 8, 2, Side.BUY),
        (None, 0, 0, None),  # no buyers left
    ]


def test_the_indicative_from_price_levels_equals_the_uncross_of_every_order():
    """The call recomputes the indicative figures from one order per level (cheap); they
    must be what the auction of the orders themselves gives."""
    import random

    from venue.domain.order import Order
    from venue.matching import Counters, MatchingEngine
    from venue.matching.auction import indicative

    rng = random.Random(14)
    for _ in range(200):
        engine = MatchingEngine("X", Counters())
        engine.in_call = True
        for oid in range(1, rng.randint(1, 40)):
            side = Side.BUY if rng.random() < 0.5 else Side.SELL
            price = None if rng.random() < 0.1 else rng.randint(95, 105) * PX
            kind = "1" if price is None else "2"
            order = Order(oid, "S", "F", "", f"c{oid}", "X", side, OrdType(kind),
                          TimeInForce.DAY, price, rng.randint(1, 50), oid)  # fmt: skip
            engine.submit(order, oid, [])
        reference = rng.choice([None, 100 * PX, 97 * PX])
        every = lambda o: True  # noqa: E731
        assert engine.indicative(reference, every) == indicative(
            engine._auction_orders(every), reference
        )


# -- market data ------------------------------------------------------------------------------


def test_market_data_shows_a_crossed_call_book_its_indicative_and_a_f_per_version():
    """The L2 projection during a call (kernel events in, entries out) and the W, X and f
    built from it, each valid in the venue's dictionary for its version."""
    import quickfix as fix

    from venue.config import FIX_CONFIG_DIR, load_reference
    from venue.domain.commands import NewOrder, OperatorAction
    from venue.domain.values import OrdType, TimeInForce
    from venue.fix.application import dictionary_dir
    from venue.fix.mdcodec import incremental, security_status, snapshot
    from venue.kernel import Kernel
    from venue.marketdata.book import IndicativeEntry, MarketDataBook, StatusEntry

    reference = load_reference(FIX_CONFIG_DIR / "venue.toml")
    kernel = Kernel(reference)
    md = MarketDataBook(reference.instruments)
    entries: list = []

    def run(command, ts):
        for event in kernel.handle(command, ts):
            entries.extend(md.apply(event))

    ts = 1_800_000_000_000_000
    run(OperatorAction("olga", "phase", "instrument", "AAPL", value="pre-open"), ts)
    run(
        NewOrder("CLIENT1", "b", "AAPL", Side.BUY, OrdType.LIMIT, TimeInForce.DAY, 10, 191 * PX), ts
    )
    run(
        NewOrder("CLIENT2", "s", "AAPL", Side.SELL, OrdType.LIMIT, TimeInForce.DAY, 4, 189 * PX), ts
    )
    snap = md.snapshot("AAPL")
    assert [(lv.price, lv.qty) for lv in snap.bids] == [(191 * PX, 10)]  # crossed: shown
    assert [(lv.price, lv.qty) for lv in snap.offers] == [(189 * PX, 4)]
    assert snap.indicative is not None and snap.indicative.price == 191 * PX
    assert snap.phase == "pre-open"
    status = [e for e in entries if type(e) is StatusEntry]
    assert [(s.phase, s.halted) for s in status] == [("pre-open", False)]
    indicative = [e for e in entries if type(e) is IndicativeEntry]

    def valid(text: str, version: str) -> None:
        msg = fix.Message()
        if version == "FIXT.1.1":
            transport = fix.DataDictionary(str(dictionary_dir() / "FIXT11.xml"))
            app = fix.DataDictionary(str(dictionary_dir() / "FIX50SP2.xml"))
            msg.setString(text, False, transport, app)
        else:
            name = {"FIX.4.4": "FIX44MD.xml", "FIX.4.2": "FIX42MD.xml"}[version]
            dd = fix.DataDictionary(str(dictionary_dir() / name))
            msg.setString(text, False, dd)
        for tag, value in ((49, "VENUE"), (56, "MD"), (34, "7"), (52, "20231114-22:13:20.123")):
            msg.getHeader().setField(tag, value)
        if version == "FIXT.1.1":
            app.validate(fix.Message(msg.toString(), transport, app, True), True)
        else:
            dd.validate(fix.Message(msg.toString(), dd, True))

    for version, types in (("FIX.4.4", "01A"), ("FIXT.1.1", "01QA"), ("FIX.4.2", "01")):
        w = snapshot(version, "r1", snap, frozenset(types), 0)
        valid(w, version)
        assert ("269=Q" in w) == (version == "FIXT.1.1")
        assert ("269=A" in w) == (version != "FIX.4.2")
        if version != "FIX.4.2":
            x = incremental(version, "r1", indicative, frozenset(types))
            valid(x, version)
            assert "277=P" in x  # more buyers
        f = security_status(version, "AAPL", False, change=True, text="x", ts=ts,
                            phase="pre-open")  # fmt: skip
        valid(f, version)
        assert f"326={'1' if version == 'FIX.4.2' else '21'}" in f


def test_random_days_of_phases_keep_every_invariant_and_replay_to_the_same_state():
    """Orders, cancels, replaces, phase changes and auctions at random on one instrument:
    the kernel's invariants hold after every command (the book is crossed only in a
    call, a call's quantities are the book's), a snapshot restores the same kernel, and
    the same commands replayed give the same events."""
    import random

    from venue.config import FIX_CONFIG_DIR, load_reference
    from venue.domain.commands import CancelOrder, NewOrder, OperatorAction, ReplaceOrder
    from venue.kernel import Kernel

    reference = load_reference(FIX_CONFIG_DIR / "venue.toml")
    for seed in range(12):
        rng = random.Random(seed)
        kernel = Kernel(reference)
        log = []
        ts = 1_800_000_000_000_000
        cls = []
        for n in range(250):
            ts += rng.randint(1, 3_000_000)
            roll = rng.random()
            if roll < 0.08:
                target = rng.choice(["closed", "pre-open", "auction", "continuous", "pre-close"])
                cmd = OperatorAction("olga", "phase", "instrument", "AAPL", value=target)
            elif roll < 0.12:
                field = rng.choice(["dynamic_band_pct", "static_band_pct"])
                cmd = OperatorAction("olga", "set_limit", "instrument", "AAPL", field,
                                     rng.choice(["1", "3", None]))  # fmt: skip
            elif roll < 0.22 and cls:
                session, cl, side = rng.choice(cls)
                cmd = CancelOrder(session, f"x{n}", cl, "AAPL", side)
            elif roll < 0.30 and cls:
                session, cl, side = rng.choice(cls)
                cmd = ReplaceOrder(session, f"r{n}", cl, "AAPL", side, OrdType.LIMIT,
                                   TimeInForce.DAY, rng.randint(1, 30) * 10,
                                   rng.randint(185, 195) * PX)  # fmt: skip
                cls.append((session, f"r{n}", side))
            else:
                session = rng.choice(["CLIENT1", "CLIENT2"])
                side = rng.choice([Side.BUY, Side.SELL])
                market = rng.random() < 0.15
                tif = rng.choice([TimeInForce.DAY, TimeInForce.GTC, TimeInForce.AT_OPEN,
                                  TimeInForce.AT_CLOSE, TimeInForce.IOC])  # fmt: skip
                cmd = NewOrder(session, f"o{n}", "AAPL", side,
                               OrdType.MARKET if market else OrdType.LIMIT, tif,
                               rng.randint(1, 30) * 10,
                               None if market else rng.randint(185, 195) * PX)  # fmt: skip
                cls.append((session, f"o{n}", side))
            log.append((cmd, ts, kernel.handle(cmd, ts)))
            kernel.check_invariants()
        again = Kernel.restore(reference, kernel.export_state())
        again.check_invariants()
        assert again.export_state() == kernel.export_state()
        replay = Kernel(reference)
        for cmd, ts, events in log:
            assert replay.handle(cmd, ts) == events


def test_auction_fills_go_to_drop_copy_and_an_auction_trade_can_be_busted(day):
    h, c1, c2 = day
    dc = HarnessClient.logged_on_to(h, "DROPCOPY")
    h.ctl("phase", "AAPL", "pre-open")
    c1.new_order("b", "AAPL", BUY, 30, "190")
    c2.new_order("s1", "AAPL", SELL, 10, "190")
    c2.new_order("s2", "AAPL", SELL, 20, "190")
    reports(c1), reports(c2), dc.drain()
    h.ctl("phase", "AAPL", "auction")
    (fill,) = reports(c1)  # one report for the whole allocation, two trades behind it
    assert fields(fill, 150, 32, 31) == ("F", "30", "190")
    copies = [m for m in dc.drain() if m.get(35) == "8"]
    assert [(m[115], m[11], m[150], m[797]) for m in copies] == [
        ("CLIENT1", "b", "F", "Y"), ("CLIENT2", "s1", "F", "Y"), ("CLIENT2", "s2", "F", "Y")
    ]  # fmt: skip
    trades = journaled(h, TradeExecuted)
    assert [(t.qty, t.auction) for t in trades] == [(10, True), (20, True)]
    h.ctl("bust", str(trades[1].trade_id), "--reason", "test")
    (bust,) = reports(c1)
    assert fields(bust, 150, 19, 32, 14) == ("H", fill[17], "20", "10")  # refers to the fill
    (bust2,) = [m for m in reports(c2) if m[150] == "H"]
    assert fields(bust2, 11, 32) == ("s2", "20")


def test_a_call_whose_end_came_during_a_halt_ends_after_the_resume(day):
    h, c1, c2 = day
    h.ctl("set-limit", "instrument", "AAPL", "resume_call_secs", "10")
    h.ctl("halt", "AAPL")
    h.ctl("resume", "AAPL")  # a call of 10 s
    c1.new_order("b", "AAPL", BUY, 10, "190")
    c2.new_order("s", "AAPL", SELL, 10, "190")
    h.ctl("halt", "AAPL")
    h.clock.advance(10)
    assert h.execute(ExpireOrders()) == []  # halted: no auction
    assert h.ctl("resume", "AAPL") == "ok: AAPL resumed: the call ends in 10s with its auction\n"
    h.clock.advance(10)
    h.execute(ExpireOrders())
    assert h.kernel.phase["AAPL"] is Phase.CONTINUOUS
    assert [fields(m, 11, 150, 31) for m in reports(c1)] == [("b", "0", None), ("b", "F", "190")]
