"""Restarts of the whole venue with the new order state: parked stops, GTD expiry (also one
that came due while the venue was down) and post-only/MinQty terms survive journal replay
and snapshots exactly. In-process venues, real FIX clients over TCP."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from fix_fixtures import ClientFactory
from test_recovery import handled_last_day_end, plain_state, replay, report, stop_answering_logout

from venue.app import Venue
from venue.domain.values import PRICE_SCALE, Side

Factory = Callable[..., Venue]


def expire_time(seconds: float) -> str:
    when = datetime.now(UTC) + timedelta(seconds=seconds)
    return when.strftime("%Y%m%d-%H:%M:%S.%f")[:-3]


def test_parked_stops_and_gtd_survive_a_restart_and_a_gtd_due_while_down_expires(
    venue_factory: Factory, fix_client_factory: ClientFactory
) -> None:
    venue = venue_factory(journal={"snapshot_every": 3})
    handled_last_day_end(venue)
    c1 = fix_client_factory("CLIENT1")
    c3 = fix_client_factory("CLIENT3", begin_string="FIX.4.2")
    c1.new_order("st1", "AAPL", "1", 10, ord_type="3", tif="1", StopPx="191")
    report(c1, ClOrdID="st1", ExecType="0")
    c3.new_order("st2", "AAPL", "1", 10, price="192", ord_type="4", tif="1", StopPx="191")
    report(c3, ClOrdID="st2", ExecType="0")
    c1.new_order("po", "AAPL", "2", 5, price="195", tif="1", ExecInst="6")
    report(c1, ClOrdID="po", ExecType="0")
    c3.new_order("ice", "MSFT", "2", 100, price="425", tif="1", MaxFloor="10")
    report(c3, ClOrdID="ice", ExecType="0")
    c2 = fix_client_factory("CLIENT2")
    c2.new_order("lift", "MSFT", "1", 15, price="425", tif="3")  # a peak and a half
    report(c2, ClOrdID="lift", OrdStatus="2")
    c1.new_order("gtd", "AAPL", "1", 5, price="185", tif="6", ExpireTime=expire_time(1.5))
    gtd_ack = report(c1, ClOrdID="gtd", ExecType="0")
    stop_answering_logout(venue, c1, c2, c3)
    before = plain_state(venue.kernel)
    assert len(before["stops"]) == 2
    time.sleep(2.0)  # the GTD's ExpireTime passes while the venue is down

    again = venue_factory(journal={"snapshot_every": 3})
    c1.reconnect(reset=False)
    c2.reconnect(reset=False)
    c3.reconnect(reset=False)

    expiry = report(c1, ClOrdID="gtd", ExecType="C")
    assert (expiry[37], expiry[39], expiry[59]) == (gtd_ack[37], "C", "6")
    # the restart rebuilt the parked stops in accept order, with everything else
    engine = again.kernel.engines["AAPL"]
    assert [o.cl_ord_id for o in engine.parked.values()] == ["st1", "st2"]
    rebuilt = plain_state(again.kernel)
    assert rebuilt["stops"] == before["stops"]
    full, replayed, recorded = replay(again.data_dir / "journal")
    assert replayed == recorded and plain_state(full) == rebuilt
    # the iceberg kept its hidden quantity and its second, partly used peak
    ice = next(o for o in again.kernel.live.values() if o.cl_ord_id == "ice")
    assert (ice.leaves_qty, ice.visible, ice.max_floor) == (85, 5, 10)
    assert again.kernel.engines["MSFT"].book.depth(Side.SELL) == [(425 * PRICE_SCALE, 5)]
    # a trade at 191 triggers both, in accept order: st1 (market) then st2 (limit 192)
    c2.new_order("a1", "AAPL", "2", 5, price="191", tif="0")
    report(c2, ClOrdID="a1", ExecType="0")
    c2.new_order("a2", "AAPL", "2", 30, price="192", tif="0")
    report(c2, ClOrdID="a2", ExecType="0")
    c1.new_order("b1", "AAPL", "1", 5, price="191", tif="0")
    report(c1, ClOrdID="b1", ExecType="F", OrdStatus="2")
    t1 = report(c1, ClOrdID="st1", ExecType="D")
    f1 = report(c1, ClOrdID="st1", ExecType="F")
    t2 = report(c3, ClOrdID="st2", ExecType="D")
    f2 = report(c3, ClOrdID="st2", OrdStatus="2")
    assert (t1[378], t2[378], f1[31], f2[31]) == ("8", "4", "192", "192")
    assert int(f1[17]) < int(t2[17])  # st2 entered after st1 had traded
    again.kernel.check_invariants()
    assert not again.kernel.engines["AAPL"].parked
