"""Recovery of the whole venue, in-process: stop, damage or keep the data dir, start again.

Replay determinism, torn and corrupt journal tails at the venue level, snapshots plus the
journal tail, the SQL projection catching up from the journal, Day expiry across a restart
and identifiers that never repeat. Crashes of a real process (kill -9) are in
test_crash.py; the journal's own framing is unit-tested in test_journal.py.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import struct
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from fix_fixtures import ClientFactory
from fixclient import TAGS, FixClient, Message
from sqlalchemy import delete, select

from venue.app import Venue
from venue.config import FIX_CONFIG_DIR, load_reference
from venue.domain.commands import BustTrade, ExpireDayOrders, NewOrder
from venue.domain.events import TradeBusted
from venue.domain.values import PRICE_SCALE, OrdType, Side, TimeInForce
from venue.journal import (
    RELEASED,
    Journal,
    JournalCorrupt,
    RecordMarker,
    decode_record,
    encode_record,
    latest_snapshot,
    read_records,
    write_snapshot,
)
from venue.journal.snapshot import encode_state
from venue.kernel import Kernel
from venue.replica import Diverged, replicate
from venue.store.models import executions, order_events, orders, projector_state, trades

HEADER = struct.Struct("<IIQ")  # a journal record's header: length, CRC, record number
TABLES = (orders, executions, trades, order_events, projector_state)
Factory = Callable[..., Venue]


# -- helpers --------------------------------------------------------------------------------


def handled_last_day_end(venue: Venue) -> None:
    """Let the venue handle the latest trading-day end, as if it had been up then.

    A restart then has no missed day end to catch up, so that what it rebuilds can be
    compared with what was there before. (Without this a restart applies the previous day
    end to today's state: see test_restart_with_no_day_end_missed_leaves_the_state_alone.)
    """
    cutoff = venue.last_day_end(datetime.now(UTC))
    venue.execute(ExpireDayOrders(int(cutoff.timestamp() * 1_000_000)))


def report(client: FixClient, msg_type: str = "8", timeout: float = 10.0, **tags: str) -> Message:
    """The next message of msg_type carrying these tags (by name); others are skipped."""
    want = {TAGS[name]: value for name, value in tags.items()}
    return client.wait_for(
        lambda m: m.get(35) == msg_type and all(m.get(t) == v for t, v in want.items()),
        timeout,
        f"35={msg_type} {tags}",
    )


def rest(client: FixClient, cl: str, symbol: str, side: str, qty: int, price: str) -> Message:
    """A GTC limit order that rests; returns its acknowledgement."""
    client.new_order(cl, symbol, side, qty, price=price, tif="1")
    return report(client, ClOrdID=cl, ExecType="0")


def trade(buyer: FixClient, seller: FixClient, tag: str, qty: int = 100) -> tuple[Message, Message]:
    """The seller rests AAPL at 190.00, the buyer takes it; returns both fills."""
    rest(seller, f"s{tag}", "AAPL", "2", qty, "190.00")
    buyer.new_order(f"b{tag}", "AAPL", "1", qty, price="190.00", tif="1")
    bought = report(buyer, ClOrdID=f"b{tag}", ExecType="F")
    sold = report(seller, ClOrdID=f"s{tag}", ExecType="F")
    return bought, sold


def mixed_traffic(c1: FixClient, c2: FixClient, c3: FixClient) -> None:
    """Resting orders, a partial and a full fill, a replace, a cancel, a reject, a cancel
    reject and a self-trade cancel: something of every common event. c3 is FIX 4.2."""
    rest(c1, "a1", "AAPL", "2", 300, "190.50")
    rest(c1, "a2", "MSFT", "1", 200, "419.00")
    rest(c2, "a3", "AAPL", "1", 100, "189.50")
    c2.new_order("x1", "AAPL", "1", 200, price="190.50", tif="1")
    report(c2, ClOrdID="x1", ExecType="F", OrdStatus="2")
    report(c1, ClOrdID="a1", ExecType="F", OrdStatus="1")
    c1.replace("a1r", "a1", "AAPL", "2", 250, price="190.60", tif="1")
    report(c1, ClOrdID="a1r", ExecType="5")
    c1.cancel("a2c", "a2", "MSFT", "1")
    report(c1, ClOrdID="a2c", ExecType="4")
    c1.cancel("zzc", "zz", "MSFT", "1")
    report(c1, "9", ClOrdID="zzc", CxlRejReason="1")
    c2.new_order("far", "AAPL", "1", 100, price="250.00", tif="1")  # outside the collar
    report(c2, ClOrdID="far", ExecType="8")
    c3.new_order("stp", "AAPL", "1", 50, price="190.60", tif="1")  # CLIENT1's firm: STP
    report(c1, ClOrdID="a1r", ExecType="4")
    report(c3, ClOrdID="stp", ExecType="0")
    rest(c3, "g1", "IBM", "2", 100, "181.00")


def clients(fix_client_factory: ClientFactory) -> tuple[FixClient, FixClient, FixClient]:
    return (
        fix_client_factory("CLIENT1"),
        fix_client_factory("CLIENT2"),
        fix_client_factory("CLIENT3", begin_string="FIX.4.2"),
    )


def stop_answering_logout(venue: Venue, *logged_on: FixClient) -> None:
    """Stop the venue while the clients stay logged on and answer its Logout, so that no
    cancel on disconnect happens before the stop."""
    stopper = threading.Thread(target=venue.stop)
    stopper.start()
    for client in logged_on:
        client.wait_for(lambda m: m.get(35) == "5", timeout=10, what="the venue's Logout")
    stopper.join(30)
    assert not stopper.is_alive(), "the venue did not stop"
    for client in logged_on:
        client.close()


def replay(journal_dir: Path, upto: int | None = None) -> tuple[Kernel, list[Any], list[Any]]:
    """A fresh kernel fed every journal record (up to record `upto`): (kernel, replayed
    events, recorded events)."""
    kernel = Kernel(load_reference(FIX_CONFIG_DIR / "venue.toml"))
    replayed: list[Any] = []
    recorded: list[Any] = []
    for record_no, payload in read_records(journal_dir):
        if upto is not None and record_no > upto:
            break
        ts, command, events = decode_record(payload)
        replayed += kernel.handle(command, ts)
        recorded += events
    return kernel, replayed, recorded


def plain_state(kernel: Kernel) -> Any:
    """The kernel's state as a snapshot stores it (JSON types)."""
    return orjson.loads(orjson.dumps(kernel.export_state()))


def wait_for_snapshot(venue: Venue, record_no: int, timeout: float = 30.0) -> Any:
    """The state in the newest snapshot once it is at record_no or later (the replica's)."""
    deadline = time.monotonic() + timeout
    while (found := latest_snapshot(venue.snapshot_dir)) is None or found[0] < record_no:
        assert time.monotonic() < deadline, f"no snapshot at record {record_no}: {found}"
        time.sleep(0.02)
    return found[0], orjson.loads(found[1])


def last_segment(venue: Venue) -> Path:
    return sorted((venue.data_dir / "journal").glob("journal-*.log"))[-1]


def record_offsets(segment: Path) -> list[tuple[int, int, int]]:
    """(record number, byte offset, payload length) of every record of a segment."""
    data = segment.read_bytes()
    out, pos = [], 0
    while pos < len(data):
        length, _, number = HEADER.unpack_from(data, pos)
        out.append((number, pos, length))
        pos += HEADER.size + length
    return out


def sql_rows(venue: Venue) -> dict[str, list[tuple[Any, ...]]]:
    with venue.db.connect() as conn:
        return {t.name: sorted(tuple(r) for r in conn.execute(select(t)).all()) for t in TABLES}


# -- replay determinism -----------------------------------------------------------------------


def test_restart_rebuilds_exactly_the_state_the_venue_stopped_with(
    venue_factory: Factory, fix_client_factory: ClientFactory
) -> None:
    venue = venue_factory()
    handled_last_day_end(venue)
    mixed_traffic(*clients(fix_client_factory))
    fix_client_factory.close_all()
    venue.stop()
    before = plain_state(venue.kernel)

    again = venue_factory()

    assert plain_state(again.kernel) == before
    assert again.kernel.live.keys() == venue.kernel.live.keys()
    again.kernel.check_invariants()


def test_replaying_the_journal_twice_gives_the_same_events_and_state(
    venue_factory: Factory, fix_client_factory: ClientFactory
) -> None:
    venue = venue_factory()
    mixed_traffic(*clients(fix_client_factory))
    fix_client_factory.close_all()
    venue.stop()
    journal_dir = venue.data_dir / "journal"

    first, first_events, recorded = replay(journal_dir)
    second, second_events, _ = replay(journal_dir)

    assert first_events == recorded
    assert second_events == first_events
    assert plain_state(second) == plain_state(first) == plain_state(venue.kernel)
    assert len(recorded) >= 14  # every event of mixed_traffic


def test_restart_with_no_day_end_missed_leaves_the_state_alone(
    venue_factory: Factory, fix_client_factory: ClientFactory
) -> None:
    venue = venue_factory()
    c1, c2, _ = clients(fix_client_factory)
    trade(c2, c1, "1")
    fix_client_factory.close_all()
    venue.stop()
    before = plain_state(venue.kernel)

    again = venue_factory()

    after = plain_state(again.kernel)
    assert {k: after[k] for k in after if after[k] != before[k]} == {}


def test_trade_made_before_a_restart_can_be_busted_after_it(
    venue_factory: Factory, fix_client_factory: ClientFactory
) -> None:
    venue = venue_factory()
    c1, c2, _ = clients(fix_client_factory)
    trade(c2, c1, "1")
    fix_client_factory.close_all()
    venue.stop()
    again = venue_factory()

    events = again.execute(BustTrade("op", 1, "wrong price"))

    assert [type(e) for e in events if type(e) is TradeBusted] == [TradeBusted], events


# -- damaged journals ---------------------------------------------------------------------------


def test_torn_tail_after_the_last_record_is_dropped_and_the_venue_serves(
    venue_factory: Factory, fix_client_factory: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    venue = venue_factory()
    handled_last_day_end(venue)
    c1, c2, c3 = clients(fix_client_factory)
    mixed_traffic(c1, c2, c3)
    fix_client_factory.close_all()
    venue.stop()
    before = plain_state(venue.kernel)
    segment = last_segment(venue)
    records = len(record_offsets(segment))
    # A crash in the middle of writing the next batch: a header and part of its payload.
    with open(segment, "ab") as f:
        f.write(HEADER.pack(200, 0x1234, records + 1) + b'[1795,["NewOrder",{"sess')

    with caplog.at_level(logging.WARNING, logger="venue.journal"):
        again = venue_factory()

    assert "torn tail" in caplog.text and str(segment) in caplog.text
    assert plain_state(again.kernel) == before
    c1.reconnect()
    ack = rest(c1, "after", "IBM", "1", 100, "179.00")
    assert int(ack[17]) == before["counters"][0] + 1  # ExecID continues from the last seq
    numbers = [no for no, _ in read_records(again.data_dir / "journal")]
    assert numbers == list(range(1, records + 2))


def test_last_record_cut_short_by_a_crash_is_dropped_and_the_venue_serves(
    venue_factory: Factory,
    fix_client_factory: ClientFactory,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    venue = venue_factory()
    handled_last_day_end(venue)
    c1, c2, c3 = clients(fix_client_factory)
    mixed_traffic(c1, c2, c3)
    rest(c1, "torn", "MSFT", "2", 100, "421.00")  # the last record: its write is torn
    stop_answering_logout(venue, c1, c2, c3)  # (no cancel on disconnect record after it)
    journal_dir = venue.data_dir / "journal"
    segment = last_segment(venue)
    number, offset, length = record_offsets(segment)[-1]
    expected, _, _ = replay(journal_dir, upto=number - 1)
    # A crash leaves no snapshot at the stop, and the SQL projection never sees a torn
    # record: start again from the journal alone and an empty database.
    for snapshot in (venue.data_dir / "snapshots").glob("snapshot-*"):
        snapshot.unlink()
    with open(segment, "r+b") as f:
        f.truncate(offset + HEADER.size + length - 3)

    with caplog.at_level(logging.WARNING, logger="venue.journal"):
        again = venue_factory(database_url=f"sqlite:///{tmp_path / 'fresh.db'}")

    assert f"torn tail at byte offset {offset}" in caplog.text
    assert plain_state(again.kernel) == plain_state(expected)
    c1.reconnect()
    c1.status("torn", "MSFT", "2")
    assert report(c1, ClOrdID="torn", ExecType="I")[37] == "NONE"
    rest(c1, "after", "MSFT", "2", 100, "421.00")
    again.wait_until_projected()
    with again.db.connect() as conn:
        cl_ord_ids = set(conn.execute(select(orders.c.cl_ord_id)).scalars())
    assert "after" in cl_ord_ids and "torn" not in cl_ord_ids


def test_corrupt_record_in_the_middle_stops_the_start_naming_file_and_offset(
    venue_factory: Factory, fix_client_factory: ClientFactory
) -> None:
    venue = venue_factory()
    c1, c2, c3 = clients(fix_client_factory)
    mixed_traffic(c1, c2, c3)
    fix_client_factory.close_all()
    venue.stop()
    segment = last_segment(venue)
    number, offset, _ = record_offsets(segment)[2]
    data = bytearray(segment.read_bytes())
    data[offset + HEADER.size + 5] ^= 0xFF  # one flipped bit in record 3's payload
    segment.write_bytes(bytes(data))

    with pytest.raises(JournalCorrupt) as raised:
        venue_factory()

    message = str(raised.value)
    assert str(segment) in message
    assert f"byte offset {offset}" in message and f"record {number}" in message


def test_snapshot_newer_than_the_end_of_the_journal_stops_the_start(
    venue_factory: Factory, fix_client_factory: ClientFactory
) -> None:
    venue = venue_factory()
    handled_last_day_end(venue)
    mixed_traffic(*clients(fix_client_factory))
    fix_client_factory.close_all()
    venue.stop()  # writes a snapshot at the last record
    segment = last_segment(venue)
    _, offset, _ = record_offsets(segment)[-1]
    with open(segment, "r+b") as f:  # the journal lost its last record, the snapshot has it
        f.truncate(offset + 3)

    with pytest.raises(Exception, match="(?i)snapshot"):
        venue_factory()


# -- snapshots and the SQL projection -------------------------------------------------------------


@pytest.mark.parametrize("snapshot_by", ["replica", "kernel"])
def test_restart_recovers_from_a_snapshot_plus_the_journal_after_it(
    venue_factory: Factory,
    fix_client_factory: ClientFactory,
    caplog: pytest.LogCaptureFixture,
    snapshot_by: str,
) -> None:
    journal = {"snapshot_every": 10, "snapshot_by": snapshot_by}
    venue = venue_factory(journal=journal)
    handled_last_day_end(venue)
    c1, c2, c3 = clients(fix_client_factory)
    mixed_traffic(c1, c2, c3)
    for i in range(4):
        rest(c2, f"t{i}", "SPY", "1", 100, f"49{i}.00")
    wait_for_snapshot(venue, 10)  # by the replica, or the kernel thread's writer
    assert (venue.replica is not None) == (snapshot_by == "replica")
    fix_client_factory.close_all()
    venue.stop()
    before = plain_state(venue.kernel)
    snapshots = sorted((venue.data_dir / "snapshots").glob("snapshot-*.bin"))
    assert len(snapshots) == 2  # a periodic one and the one written at the stop
    snapshots[-1].unlink()  # as after a crash: recovery must use the older one and replay
    periodic = int(snapshots[0].name.split("-")[1].split(".")[0])

    with caplog.at_level(logging.INFO, logger="venue"):
        again = venue_factory(journal=journal)

    assert f"recovered: snapshot at record {periodic} + " in caplog.text
    assert " + 0 journal records" not in caplog.text
    assert plain_state(again.kernel) == before
    full, _, _ = replay(again.data_dir / "journal")
    assert plain_state(full) == before
    snapshots = again.status()["snapshots"]  # what a restart now would replay
    assert snapshots["by"] == snapshot_by and snapshots["newest_record"] == periodic
    assert snapshots["lag_records"] == again._last_record - periodic > 0


def test_the_replicas_snapshot_equals_the_kernels_own_export_at_the_same_record(
    venue_factory: Factory, fix_client_factory: ClientFactory
) -> None:
    venue = venue_factory(journal={"snapshot_every": 1})
    handled_last_day_end(venue)
    c1, c2, c3 = clients(fix_client_factory)
    mixed_traffic(c1, c2, c3)
    record_no, state = wait_for_snapshot(venue, venue._last_record)
    assert record_no == venue._last_record and state == plain_state(venue.kernel)

    rest(c2, "s1", "SPY", "2", 40, "500.00")  # more of the same after a replica snapshot
    c1.new_order("b1", "SPY", "1", 40, price="500.00", tif="1")
    report(c1, ClOrdID="b1", ExecType="F")
    c2.cancel("a3c", "a3", "AAPL", "1")
    report(c2, ClOrdID="a3c", ExecType="4")
    record_no, state = wait_for_snapshot(venue, venue._last_record)
    assert record_no == venue._last_record and state == plain_state(venue.kernel)
    assert state["trade_ids"] == [1, 2] and state["resting"]  # not an empty book
    snapshots = venue.status()["snapshots"]
    assert snapshots["by"] == "replica" and snapshots["newest_record"] == record_no
    assert snapshots["lag_records"] == venue._last_record - record_no == 0
    assert snapshots["replica"]["running"] and snapshots["replica"]["restarts"] == 0
    assert venue.metrics.registry.get_sample_value("venue_snapshot_lag_records") == 0

    assert venue.replica is not None and venue.replica.pid is not None
    replica = venue.replica.pid
    fix_client_factory.close_all()
    venue.stop()
    assert not Path(f"/proc/{replica}").exists()  # stopped and reaped


def test_a_killed_replica_stops_no_trading_and_is_started_again(
    venue_factory: Factory, fix_client_factory: ClientFactory
) -> None:
    venue = venue_factory(journal={"snapshot_every": 1})
    handled_last_day_end(venue)
    c1, c2, _ = clients(fix_client_factory)
    rest(c1, "r1", "AAPL", "1", 100, "189.00")
    wait_for_snapshot(venue, venue._last_record)
    assert venue.replica is not None and venue.replica.pid is not None
    killed = venue.replica.pid
    os.kill(killed, signal.SIGKILL)

    bought, sold = trade(c1, c2, "k1")  # trading goes on at once

    deadline = time.monotonic() + 15
    while venue.replica.pid == killed:  # the scheduler starts it again within a second
        assert time.monotonic() < deadline, "the replica was not started again"
        time.sleep(0.05)
    record_no, state = wait_for_snapshot(venue, venue._last_record)
    assert record_no == venue._last_record and state == plain_state(venue.kernel)
    assert bought[39] == sold[39] == "2"
    replica = venue.status()["snapshots"]["replica"]
    assert replica["running"] and replica["restarts"] == 1 and replica["pid"] != killed
    assert venue.metrics.registry.get_sample_value("venue_snapshot_replica_restarts") == 1


def test_a_replica_whose_replay_diverges_writes_no_snapshot(tmp_path: Path) -> None:
    reference = load_reference(FIX_CONFIG_DIR / "venue.toml")
    journal_dir, snapshot_dir = tmp_path / "journal", tmp_path / "snapshots"
    write_snapshot(snapshot_dir, 0, encode_state(Kernel(reference).export_state()))
    order = NewOrder("CLIENT1", "d1", "AAPL", Side.BUY, OrdType.LIMIT, TimeInForce.GTC, 10,
                     189 * PRICE_SCALE)  # fmt: skip
    accepted = Kernel(reference).handle(order, 1_000)
    journal = Journal.open(journal_dir, fsync=False)
    journal.append([encode_record(1_000, order, accepted), encode_record(2_000, order, [])])
    journal.close()
    released = RecordMarker(journal_dir / RELEASED)
    released.write(2)  # record 2 claims its duplicate ClOrdID was accepted without a word
    released.close()
    reader, writer = multiprocessing.Pipe(duplex=False)

    with pytest.raises(Diverged, match="journal record 2"):
        replicate(reference, journal_dir, snapshot_dir, every=1, stop=reader)

    found = latest_snapshot(snapshot_dir)
    assert found is not None and found[0] == 1  # record 1 replayed right; nothing after it
    writer.close()


def test_projection_rebuilds_deleted_sql_rows_from_the_journal(
    venue_factory: Factory, fix_client_factory: ClientFactory, db_url: str
) -> None:
    venue = venue_factory(database_url=db_url, journal={"snapshot_every": 10})
    handled_last_day_end(venue)
    mixed_traffic(*clients(fix_client_factory))
    venue.wait_until_projected()
    projected = sql_rows(venue)
    fix_client_factory.close_all()
    venue.stop()
    with venue.db.begin() as conn:
        for table in TABLES:
            conn.execute(delete(table))

    again = venue_factory(database_url=db_url, journal={"snapshot_every": 10})
    again.wait_until_projected()

    assert sql_rows(again) == projected
    assert len(projected["executions"]) == 12 and len(projected["trades"]) == 1


# -- trading day ----------------------------------------------------------------------------------


def test_day_orders_expire_when_a_day_end_passed_while_the_venue_was_down(
    venue_factory: Factory, fix_client_factory: ClientFactory
) -> None:
    an_hour_ago = (datetime.now(UTC) - timedelta(hours=1)).time()
    venue = venue_factory(trading_day_end=an_hour_ago)  # the next day end is ~23 h away
    c1 = fix_client_factory("CLIENT1")
    c1.new_order("day1", "AAPL", "1", 100, price="189.00", tif="0")
    day1 = report(c1, ClOrdID="day1", ExecType="0")
    c1.new_order("day2", "MSFT", "2", 100, price="421.00", tif="0")
    day2 = report(c1, ClOrdID="day2", ExecType="0")
    rest(c1, "gtc", "AAPL", "2", 100, "191.00")
    stop_answering_logout(venue, c1)
    day_end = datetime.now(UTC).time()  # a day end between the orders and the restart

    again = venue_factory(trading_day_end=day_end)
    c1.reconnect(reset=False)

    expired = {m[11]: m for m in (report(c1, ExecType="C"), report(c1, ExecType="C"))}
    assert expired.keys() == {"day1", "day2"}
    for ack, expiry in ((day1, expired["day1"]), (day2, expired["day2"])):
        assert expiry[37] == ack[37] and expiry[39] == "C" and expiry[151] == "0"
        assert expiry[43] == "Y"  # stored while the client was away, then resent
    c2 = fix_client_factory("CLIENT2")
    c2.new_order("take", "AAPL", "1", 100, price="191.00", tif="3")
    assert report(c2, ClOrdID="take", ExecType="F")[31] == "191"
    assert report(c1, ClOrdID="gtc", ExecType="F", OrdStatus="2")
    again.wait_until_projected()
    with again.db.connect() as conn:
        status = dict(conn.execute(select(orders.c.cl_ord_id, orders.c.status)).all())
    assert status == {"day1": "C", "day2": "C", "gtc": "2", "take": "2"}


# -- identifiers --------------------------------------------------------------------------------


def test_ids_continue_across_restarts_and_never_repeat(
    venue_factory: Factory, fix_client_factory: ClientFactory
) -> None:
    first = venue_factory()
    c1, c2, _ = clients(fix_client_factory)
    before = trade(c2, c1, "1")
    fix_client_factory.close_all()
    first.stop()

    second = venue_factory()
    c1.reconnect()
    c2.reconnect()
    after = trade(c2, c1, "2")
    second.wait_until_projected()

    assert min(int(m[37]) for m in after) > max(int(m[37]) for m in before)
    assert min(int(m[17]) for m in after) > max(int(m[17]) for m in before)
    with second.db.connect() as conn:
        trade_ids = conn.execute(select(trades.c.trade_id).order_by(trades.c.trade_id)).all()
        exec_ids = conn.execute(select(executions.c.exec_id)).scalars().all()
        order_ids = conn.execute(select(orders.c.order_id)).scalars().all()
    assert [t for (t,) in trade_ids] == [1, 2]
    assert len(exec_ids) == len(set(exec_ids)) == 8  # ack + fill per order, four orders
    assert sorted(order_ids) == sorted({int(m[37]) for m in before + after})
