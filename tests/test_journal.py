"""Journal: record codec, group commit, torn tails, corruption, segments, snapshots.

Real files in tmp_path throughout; the only stand-ins are counting wrappers around
os.fdatasync/os.fsync (which still call the real functions) and a file-size rlimit to make
a real write fail.
"""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing
import os
import resource
import shutil
import signal
import struct
import tempfile
import threading
import time
import zlib
from pathlib import Path

import msgspec
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from venue.domain import serde
from venue.domain.codes import CancelReason, RejectCode
from venue.domain.commands import (
    BustTrade,
    CancelOrder,
    Command,
    ExpireDayOrders,
    ExpireOrders,
    MassCancel,
    NewOrder,
    OperatorAction,
    QueryOrder,
    RejectMessage,
    ReplaceOrder,
    ScheduleTick,
    SessionDisconnected,
)
from venue.domain.events import Event, OrderCanceled, OrderFilled, OrderSnapshot
from venue.domain.reference import Instrument, Reference, SessionInfo, StpMode
from venue.domain.serde import from_plain, to_plain
from venue.domain.values import PRICE_SCALE, OrdType, Side, TimeInForce
from venue.journal import (
    RELEASED,
    Journal,
    JournalCorrupt,
    RecordMarker,
    decode_record,
    encode_record,
    latest_snapshot,
    prune_snapshots,
    read_records,
    record_last_seq,
    write_snapshot,
)
from venue.journal.codec import decode_typed, record_version
from venue.kernel import Kernel
from venue.projection import follow
from venue.store.db import make_engine, migrate
from venue.store.projector import SqlProjector

TS = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z in microseconds
PX = PRICE_SCALE  # 1.00


# -- helpers ------------------------------------------------------------------------------


def realistic_records() -> list[tuple[int, Command, list[Event]]]:
    """What a kernel journals for a short day that touches every command and event type."""
    kernel = Kernel(
        Reference(
            {"AAPL": Instrument("AAPL", PRICE_SCALE // 100)},
            {
                "C1": SessionInfo("C1", "FIRM1"),
                "C2": SessionInfo("C2", "FIRM2"),
                "C3": SessionInfo("C3", "FIRM1"),
            },
        )
    )
    buy, sell, day, limit = Side.BUY, Side.SELL, TimeInForce.DAY, OrdType.LIMIT
    commands: list[Command] = [
        NewOrder("C2", "s1", "AAPL", sell, limit, day, 100, 190 * PX, "ACC-2"),
        NewOrder("C1", "b1", "AAPL", buy, limit, TimeInForce.IOC, 40, 190 * PX, "ACC-1"),
        ReplaceOrder("C2", "s2", "s1", "AAPL", sell, limit, day, 50, 191 * PX),
        QueryOrder("C2", "s2", "AAPL", sell),
        CancelOrder("C2", "s3", "s2", "AAPL", sell, order_id=1),
        CancelOrder("C1", "x1", "nope", "AAPL", buy),
        NewOrder("C1", "b2", "MSFT", buy, OrdType.MARKET, day, 10),
        RejectMessage("C1", "D", "b3", RejectCode.MISSING_FIELD, "Price(44) missing", side=buy),
        RejectMessage("C1", "G", "b4", RejectCode.UNKNOWN_ORDER, "no such order", "b0", "AAPL"),
        NewOrder("C1", "b5", "AAPL", buy, limit, day, 30, 189 * PX),
        NewOrder("C3", "s5", "AAPL", sell, limit, day, 10, 189 * PX, stp=StpMode.DECREMENT),
        NewOrder("C2", "s6", "AAPL", sell, limit, TimeInForce.GTC, 5, 195 * PX),
        MassCancel("C2", "m1", "7"),
        NewOrder("C3", "s7", "AAPL", sell, limit, day, 5, 196 * PX),
        NewOrder("C2", "st1", "AAPL", buy, OrdType.STOP_LIMIT, day, 5, 191 * PX, stop_px=191 * PX),
        NewOrder("C2", "b8", "AAPL", buy, limit, day, 2, 196 * PX),  # triggers st1
        SessionDisconnected("C1"),
        BustTrade("ops", 1, "wrong price"),
        OperatorAction("ops", "phase", "instrument", "AAPL", value="pre-open"),
        NewOrder("C2", "b9", "AAPL", buy, limit, day, 3, 197 * PX),  # the indicative moves
        OperatorAction("ops", "phase", "instrument", "AAPL", value="auction"),
        OperatorAction("ops", "halt", "instrument", "AAPL"),
        ExpireOrders(),
        ScheduleTick(),
        ExpireDayOrders(TS + 1_000_000),
    ]
    records = []
    for i, command in enumerate(commands):
        ts = TS + i * 1_000
        records.append((ts, command, kernel.handle(command, ts)))
    return records


def first_record_with(event_type: type) -> tuple[int, Command, list[Event]]:
    return next(r for r in realistic_records() if any(type(e) is event_type for e in r[2]))


def payload(no: int, size: int = 40) -> bytes:
    return f"payload {no} ".encode().ljust(size, b".")


def frame(no: int, data: bytes) -> bytes:
    """A record as the journal lays it out: header <IIQ then the payload."""
    number = struct.pack("<Q", no)
    return struct.pack("<II", len(data), zlib.crc32(data, zlib.crc32(number))) + number + data


def segment(directory: Path, first: int = 1) -> Path:
    return directory / f"journal-{first:020d}.log"


def write_journal(directory: Path, count: int, **options: object) -> list[bytes]:
    payloads = [payload(no) for no in range(1, count + 1)]
    with Journal.open(directory, **options) as journal:  # type: ignore[arg-type]
        for data in payloads:
            journal.append([data])
    return payloads


def flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x40
    path.write_bytes(bytes(data))


@pytest.fixture
def count_syncs(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    calls = {"fdatasync": 0, "fsync": 0}
    for name in calls:
        real = getattr(os, name)

        def counted(fd: int, name: str = name, real=real) -> None:  # type: ignore[no-untyped-def]
            calls[name] += 1
            real(fd)

        monkeypatch.setattr(os, name, counted)
    return calls


# -- codec --------------------------------------------------------------------------------


def test_every_command_and_event_type_round_trips_through_the_codec():
    records = realistic_records()
    seen = set()
    for ts, command, events in records:
        decoded = decode_record(encode_record(ts, command, events))
        assert decoded == (ts, command, events)
        assert repr(decoded) == repr((ts, command, events))  # enums come back as enums
        seen.update(type(obj) for obj in [command, *events])
    every = {cls for cls in serde.CLASSES.values() if cls is not OrderSnapshot}
    assert seen == every, f"not exercised: {sorted(c.__name__ for c in every - seen)}"


def test_format_1_records_decode_typed_to_what_the_plain_form_gives():
    """msgspec's typed decoding (the fast path) takes every record of this release and
    builds exactly what serde.from_plain builds from the same record."""
    for ts, command, events in realistic_records():
        encoded = encode_record(ts, command, events)
        typed = decode_typed(encoded)
        assert typed is not None, f"fell back to the plain form: {command!r}"
        plain = msgspec.msgpack.decode(encoded[1:])
        by_plain = (plain[0], from_plain(plain[1]), [from_plain(e) for e in plain[2]])
        assert typed == by_plain and repr(typed) == repr(by_plain)


def test_a_record_msgspec_will_not_take_typed_still_decodes_from_the_plain_form():
    ts, command, events = next(r for r in realistic_records() if isinstance(r[1], NewOrder))
    plain = [ts, to_plain(command), [to_plain(e) for e in events]]
    plain[1][1]["qty"] = float(plain[1][1]["qty"])  # say, an older release's float
    payload = b"\x01" + msgspec.msgpack.encode(plain)
    assert decode_typed(payload) is None
    assert decode_record(payload)[1].qty == command.qty


def test_encoded_record_is_a_version_byte_and_the_serde_plain_form_as_msgpack():
    for ts, command, events in realistic_records():
        plain = [ts, to_plain(command), [to_plain(e) for e in events]]
        encoded = encode_record(ts, command, events)
        assert encoded[:1] == b"\x01" and record_version(encoded) == 1
        assert msgspec.msgpack.decode(encoded[1:]) == orjson.loads(orjson.dumps(plain))


def test_records_of_the_previous_format_decode_to_the_same_objects():
    """Format 0 (orjson JSON of the same plain form), written by earlier releases."""
    for ts, command, events in realistic_records():
        old = orjson.dumps([ts, to_plain(command), [to_plain(e) for e in events]])
        assert record_version(old) == 0
        assert decode_record(old) == (ts, command, events)
        assert record_last_seq(old) == record_last_seq(encode_record(ts, command, events))


def test_integer_beyond_64_bits_round_trips_exactly():
    ts, command, events = first_record_with(OrderFilled)
    fill = events[-1]
    huge = dataclasses.replace(fill.order, cum_notional=10**25 + 7)
    events = [*events[:-1], dataclasses.replace(fill, order=huge)]

    encoded = encode_record(ts, command, events)

    assert decode_record(encoded) == (ts, command, events)
    assert decode_record(encoded)[2][-1].order.cum_notional == 10**25 + 7
    assert orjson.loads(encoded)[0] == ts  # plain JSON: MessagePack has no such integers


# -- append, reopen, read -----------------------------------------------------------------


def test_records_are_numbered_from_one_and_reopening_continues_the_numbering(tmp_path):
    with Journal.open(tmp_path) as journal:
        assert journal.last_record_no == 0
        assert journal.append([payload(1), payload(2)]) == 2
        assert journal.append([payload(3)]) == 3
        assert journal.append([]) == 3

    with Journal.open(tmp_path) as journal:
        assert journal.last_record_no == 3
        assert journal.append([payload(4)]) == 4

    assert list(read_records(tmp_path)) == [(no, payload(no)) for no in range(1, 5)]


def test_read_records_after_n_yields_only_later_records(tmp_path):
    write_journal(tmp_path, 6)

    assert [no for no, _ in read_records(tmp_path, after=4)] == [5, 6]
    assert list(read_records(tmp_path, after=6)) == []
    assert list(read_records(tmp_path / "missing")) == []


def test_encoded_records_survive_the_journal(tmp_path):
    records = realistic_records()
    with Journal.open(tmp_path) as journal:
        journal.append([encode_record(*record) for record in records])

    assert [decode_record(data) for _, data in read_records(tmp_path)] == records


def test_closed_journal_refuses_appends(tmp_path):
    journal = Journal.open(tmp_path)
    journal.close()
    journal.close()

    with pytest.raises(ValueError, match="closed"):
        journal.append([payload(1)])


def test_second_writer_on_the_same_directory_is_refused(tmp_path):
    with Journal.open(tmp_path), pytest.raises(BlockingIOError, match="already open"):
        Journal.open(tmp_path)
    Journal.open(tmp_path).close()


# -- torn tails ---------------------------------------------------------------------------


def test_torn_last_record_is_dropped_and_appends_continue(tmp_path):
    source = tmp_path / "source"
    with Journal.open(source) as journal:
        journal.append([payload(1), payload(2)])
        journal.append([payload(3)])
    whole = segment(source).read_bytes()
    start = len(whole) - len(frame(3, payload(3)))

    for cut in range(start, len(whole)):
        directory = tmp_path / f"cut-{cut}"
        directory.mkdir()
        segment(directory).write_bytes(whole[:cut])

        with Journal.open(directory) as journal:
            assert journal.last_record_no == 2, cut
            assert journal.append([b"after the crash"]) == 3

        assert list(read_records(directory)) == [
            (1, payload(1)),
            (2, payload(2)),
            (3, b"after the crash"),
        ], cut


def test_torn_batch_drops_every_record_from_the_tear_on(tmp_path):
    with Journal.open(tmp_path) as journal:
        journal.append([payload(1)])
        journal.append([payload(2), payload(3), payload(4)])
    path = segment(tmp_path)
    record = len(frame(1, payload(1)))
    os.truncate(path, 2 * record + 5)  # record 3 is torn, 4 never made it

    with Journal.open(tmp_path) as journal:
        assert journal.last_record_no == 2
    assert path.stat().st_size == 2 * record


def test_read_records_stops_quietly_at_a_torn_tail(tmp_path):
    write_journal(tmp_path, 3)
    os.truncate(segment(tmp_path), segment(tmp_path).stat().st_size - 3)

    assert [no for no, _ in read_records(tmp_path)] == [1, 2]


def test_torn_tail_is_logged_when_cut_off(tmp_path, caplog):
    write_journal(tmp_path, 2)
    size = segment(tmp_path).stat().st_size
    os.truncate(segment(tmp_path), size - 10)

    with caplog.at_level(logging.WARNING), Journal.open(tmp_path):
        pass

    assert "torn tail" in caplog.text
    assert str(segment(tmp_path)) in caplog.text
    assert "record 2" in caplog.text


def test_trailing_zero_bytes_are_dropped(tmp_path, caplog):
    write_journal(tmp_path, 3)
    path = segment(tmp_path)
    size = path.stat().st_size
    with open(path, "ab") as f:
        f.write(bytes(4096))

    assert [no for no, _ in read_records(tmp_path)] == [1, 2, 3]
    with caplog.at_level(logging.WARNING), Journal.open(tmp_path) as journal:
        assert journal.last_record_no == 3
        assert path.stat().st_size == size
        assert "4096 zero bytes" in caplog.text
        assert journal.append([payload(4)]) == 4
    assert [no for no, _ in read_records(tmp_path)] == [1, 2, 3, 4]


def test_zero_filled_end_of_a_torn_record_is_dropped(tmp_path):
    write_journal(tmp_path, 3)
    path = segment(tmp_path)
    data = bytearray(path.read_bytes())
    data[-20:] = bytes(20)  # the file grew but the last page never reached the disk
    path.write_bytes(bytes(data) + bytes(100))

    with Journal.open(tmp_path) as journal:
        assert journal.last_record_no == 2


def test_final_record_with_a_crc_mismatch_is_treated_as_torn(tmp_path):
    write_journal(tmp_path, 3)
    flip(segment(tmp_path), segment(tmp_path).stat().st_size - 1)

    with Journal.open(tmp_path) as journal:
        assert journal.last_record_no == 2


def test_write_in_progress_is_invisible_until_complete(tmp_path):
    write_journal(tmp_path, 3)
    record = frame(4, payload(4))
    with open(segment(tmp_path), "ab") as f:
        f.write(record[:25])
        f.flush()
        assert [no for no, _ in read_records(tmp_path)] == [1, 2, 3]
        f.write(record[25:])
        f.flush()
        assert list(read_records(tmp_path, after=3)) == [(4, payload(4))]


# -- corruption ---------------------------------------------------------------------------


def test_flipped_byte_in_an_early_record_raises_corrupt_naming_file_and_offset(tmp_path):
    write_journal(tmp_path, 5)
    offset = len(frame(1, payload(1)))  # record 2 starts here
    flip(segment(tmp_path), offset + 20)

    with pytest.raises(JournalCorrupt) as opening:
        Journal.open(tmp_path)
    with pytest.raises(JournalCorrupt) as reading:
        list(read_records(tmp_path))

    for error in (opening.value, reading.value):
        message = str(error)
        assert segment(tmp_path).name in message
        assert f"byte offset {offset}" in message
        assert "record 2" in message
        assert "CRC mismatch" in message


def test_length_damage_before_valid_records_is_corruption_not_a_torn_tail(tmp_path):
    write_journal(tmp_path, 5)
    path = segment(tmp_path)
    data = bytearray(path.read_bytes())
    offset = len(frame(1, payload(1)))
    struct.pack_into("<I", data, offset, len(data))  # record 2 now claims to run past the end
    path.write_bytes(bytes(data))

    with pytest.raises(JournalCorrupt, match=f"byte offset {offset}: record 2: bad length"):
        Journal.open(tmp_path)
    assert path.stat().st_size == len(data)  # nothing was cut


def test_absurd_length_is_corruption(tmp_path):
    write_journal(tmp_path, 3)
    path = segment(tmp_path)
    data = bytearray(path.read_bytes())
    struct.pack_into("<I", data, 0, 0xFFFF_FFF0)
    path.write_bytes(bytes(data))

    with pytest.raises(JournalCorrupt, match="record 1: bad length"):
        Journal.open(tmp_path)


def test_record_numbers_out_of_sequence_raise_corrupt(tmp_path):
    segment(tmp_path).write_bytes(frame(1, b"one") + frame(2, b"two") + frame(4, b"four"))

    with pytest.raises(JournalCorrupt, match="record number 4 where record 3"):
        Journal.open(tmp_path)
    with pytest.raises(JournalCorrupt, match="not contiguous"):
        list(read_records(tmp_path))


def test_segment_whose_first_record_differs_from_its_name_raises_corrupt(tmp_path):
    segment(tmp_path, 5).write_bytes(frame(1, b"one"))

    with pytest.raises(JournalCorrupt, match="record number 1 where record 5"):
        Journal.open(tmp_path)


def test_bad_record_in_an_earlier_segment_raises_corrupt(tmp_path):
    write_journal(tmp_path, 9, segment_bytes=3 * len(frame(1, payload(1))))
    first = segment(tmp_path, 1)
    assert segment(tmp_path, 7).exists()
    flip(first, first.stat().st_size - 1)  # the end of that segment's last record

    with pytest.raises(JournalCorrupt) as error:
        list(read_records(tmp_path))

    assert first.name in str(error.value)
    assert "record 3" in str(error.value)
    assert "not the last segment" in str(error.value)


def test_truncated_earlier_segment_is_corruption_not_a_torn_tail(tmp_path):
    write_journal(tmp_path, 9, segment_bytes=3 * len(frame(1, payload(1))))
    os.truncate(segment(tmp_path, 4), segment(tmp_path, 4).stat().st_size - 1)

    with pytest.raises(JournalCorrupt, match="record 6: incomplete payload"):
        list(read_records(tmp_path))


def test_missing_segment_raises_corrupt(tmp_path):
    write_journal(tmp_path, 9, segment_bytes=3 * len(frame(1, payload(1))))
    segment(tmp_path, 4).unlink()

    with pytest.raises(JournalCorrupt, match="record 4 was next"):
        list(read_records(tmp_path))
    segment(tmp_path, 1).unlink()
    with pytest.raises(JournalCorrupt, match="records 1..6 are missing"):
        list(read_records(tmp_path))
    assert [no for no, _ in read_records(tmp_path, after=6)] == [7, 8, 9]


# -- segments -----------------------------------------------------------------------------


def test_segments_roll_over_and_records_read_across_them(tmp_path):
    record = len(frame(1, payload(1)))
    write_journal(tmp_path, 10, segment_bytes=3 * record)

    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [segment(tmp_path, n).name for n in (1, 4, 7, 10)]
    assert all((tmp_path / name).stat().st_size <= 3 * record for name in names)
    assert list(read_records(tmp_path)) == [(no, payload(no)) for no in range(1, 11)]
    assert [no for no, _ in read_records(tmp_path, after=5)] == [6, 7, 8, 9, 10]

    with Journal.open(tmp_path, segment_bytes=3 * record) as journal:
        assert journal.last_record_no == 10
        assert journal.append([payload(11), payload(12)]) == 12
        assert journal.append([payload(n) for n in range(13, 18)]) == 17  # larger than a segment
    assert sorted(p.name for p in tmp_path.iterdir())[-2:] == [
        segment(tmp_path, 10).name,
        segment(tmp_path, 13).name,
    ]
    assert [no for no, _ in read_records(tmp_path, after=8)] == list(range(9, 18))


def test_crash_right_after_a_segment_was_created_leaves_an_empty_segment_that_is_used(tmp_path):
    write_journal(tmp_path, 3)
    segment(tmp_path, 4).touch()

    with Journal.open(tmp_path) as journal:
        assert journal.last_record_no == 3
        assert journal.append([payload(4)]) == 4
    assert segment(tmp_path, 4).stat().st_size == len(frame(4, payload(4)))
    assert [no for no, _ in read_records(tmp_path)] == [1, 2, 3, 4]


def test_empty_last_segment_after_a_gap_raises_corrupt(tmp_path):
    write_journal(tmp_path, 3)
    segment(tmp_path, 9).touch()

    with pytest.raises(JournalCorrupt, match="ends with record 3 but the next segment starts at 9"):
        Journal.open(tmp_path)


# -- group commit -------------------------------------------------------------------------


def test_one_append_of_many_records_costs_one_fdatasync(tmp_path, count_syncs):
    with Journal.open(tmp_path, fsync=True) as journal:
        count_syncs.update(fdatasync=0, fsync=0)

        journal.append([payload(no) for no in range(1, 101)])

        assert count_syncs == {"fdatasync": 1, "fsync": 0}
        journal.append([payload(101)])
        assert count_syncs == {"fdatasync": 2, "fsync": 0}


def test_rolling_to_a_new_segment_also_syncs_the_directory(tmp_path, count_syncs):
    with Journal.open(tmp_path, segment_bytes=100) as journal:
        journal.append([payload(1), payload(2)])
        count_syncs.update(fdatasync=0, fsync=0)

        journal.append([payload(3)])

        assert count_syncs == {"fdatasync": 1, "fsync": 1}


def test_fsync_off_never_syncs(tmp_path, count_syncs):
    with Journal.open(tmp_path, fsync=False, segment_bytes=100) as journal:
        for no in range(1, 6):
            journal.append([payload(no)])
    segment(tmp_path, 5).write_bytes(segment(tmp_path, 5).read_bytes()[:-1])
    with Journal.open(tmp_path, fsync=False, segment_bytes=100):
        pass

    assert count_syncs == {"fdatasync": 0, "fsync": 0}


def test_failed_write_leaves_nothing_of_the_batch_and_closes_the_journal(tmp_path):
    journal = Journal.open(tmp_path)
    journal.append([payload(1)])
    size = segment(tmp_path).stat().st_size
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    old_limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size + 100, old_limit[1]))
    try:
        with pytest.raises(OSError):
            journal.append([payload(n, 60) for n in range(2, 6)])  # a partial write, then EFBIG
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old_limit)
        signal.signal(signal.SIGXFSZ, old_handler)

    assert segment(tmp_path).stat().st_size == size
    with pytest.raises(ValueError, match="closed"):
        journal.append([payload(2)])
    with Journal.open(tmp_path) as reopened:
        assert reopened.last_record_no == 1


# -- a reader beside the writer -----------------------------------------------------------


def test_reader_tailing_a_live_writer_sees_every_record_once_in_order(tmp_path):
    total = 10_000
    sizes = [1, 7, 50, 3, 100, 1, 1, 20]

    def write() -> None:
        with Journal.open(tmp_path, fsync=False, segment_bytes=16_384) as journal:
            no = 0
            while no < total:
                batch = min(sizes[no % len(sizes)], total - no)
                journal.append([payload(n) for n in range(no + 1, no + batch + 1)])
                no += batch

    writer = threading.Thread(target=write)
    writer.start()
    seen: list[tuple[int, bytes]] = []
    while True:
        writing = writer.is_alive()
        seen.extend(read_records(tmp_path, after=len(seen)))
        if not writing:
            break
    writer.join()

    assert seen == [(no, payload(no)) for no in range(1, total + 1)]
    assert len(list(tmp_path.glob("journal-*.log"))) > 3


def test_reader_is_not_misled_by_a_journal_recreated_in_the_same_place(tmp_path):
    def new(n: int) -> bytes:
        return (b"new %d" % n).ljust(30, b"-")  # other lengths: old offsets fall mid-record

    directory = tmp_path / "journal"
    write_journal(directory, 5)
    assert len(list(read_records(directory))) == 5  # the reader remembers where it stopped
    shutil.rmtree(directory)
    with Journal.open(directory) as journal:
        journal.append([new(n) for n in range(1, 9)])

    assert list(read_records(directory, after=5)) == [(n, new(n)) for n in (6, 7, 8)]
    assert list(read_records(directory))[0] == (1, new(1))


@settings(max_examples=40, deadline=None)
@given(
    batches=st.lists(st.lists(st.binary(max_size=300), max_size=12), max_size=25),
    segment_bytes=st.integers(min_value=1, max_value=4000),
    reopen_every=st.integers(min_value=1, max_value=6),
)
def test_whatever_is_appended_is_read_back_in_order(batches, segment_bytes, reopen_every):
    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        expected: list[bytes] = []
        journal = Journal.open(directory, fsync=False, segment_bytes=segment_bytes)
        for i, batch in enumerate(batches):
            assert journal.append(batch) == len(expected) + len(batch)
            expected.extend(batch)
            if i % reopen_every == 0:
                journal.close()
                journal = Journal.open(directory, fsync=False, segment_bytes=segment_bytes)
                assert journal.last_record_no == len(expected)
        journal.close()

        assert list(read_records(directory)) == list(enumerate(expected, start=1))
        half = len(expected) // 2
        assert [no for no, _ in read_records(directory, after=half)] == list(
            range(half + 1, len(expected) + 1)
        )


# -- snapshots ----------------------------------------------------------------------------


def test_snapshot_write_is_atomic_and_the_latest_wins(tmp_path):
    assert latest_snapshot(tmp_path) is None

    first = write_snapshot(tmp_path, 10, b"state at 10")
    second = write_snapshot(tmp_path, 25, b"state at 25")

    assert (first.name, second.name) == (
        "snapshot-00000000000000000010.bin",
        "snapshot-00000000000000000025.bin",
    )
    assert latest_snapshot(tmp_path) == (25, b"state at 25")
    assert not list(tmp_path.glob("*.tmp"))


def test_damaged_newest_snapshot_falls_back_to_the_older_one(tmp_path, caplog):
    write_snapshot(tmp_path, 10, b"state at 10")
    newest = write_snapshot(tmp_path, 25, b"state at 25")
    flip(newest, newest.stat().st_size - 1)

    with caplog.at_level(logging.WARNING):
        assert latest_snapshot(tmp_path) == (10, b"state at 10")

    assert newest.name in caplog.text and "CRC mismatch" in caplog.text


def test_truncated_or_renamed_snapshots_are_not_trusted(tmp_path):
    write_snapshot(tmp_path, 10, b"state at 10")
    short = write_snapshot(tmp_path, 20, b"state at 20")
    os.truncate(short, short.stat().st_size - 1)
    moved = write_snapshot(tmp_path, 25, b"state at 25")
    moved.rename(tmp_path / "snapshot-00000000000000000030.bin")

    assert latest_snapshot(tmp_path) == (10, b"state at 10")


def test_leftover_temporary_file_of_a_crashed_snapshot_is_ignored(tmp_path):
    write_snapshot(tmp_path, 10, b"state at 10")
    (tmp_path / "snapshot-00000000000000000020.bin.tmp").write_bytes(b"half written")

    assert latest_snapshot(tmp_path) == (10, b"state at 10")


def test_prune_keeps_the_newest_valid_snapshots_only(tmp_path):
    for no in (10, 20, 30, 40):
        write_snapshot(tmp_path, no, b"state at %d" % no)
    (tmp_path / "snapshot-00000000000000000035.bin.tmp").write_bytes(b"half written")
    write_journal(tmp_path, 2)

    removed = prune_snapshots(tmp_path, keep=2)

    assert sorted(p.name for p in removed) == [
        "snapshot-00000000000000000010.bin",
        "snapshot-00000000000000000020.bin",
        "snapshot-00000000000000000035.bin.tmp",
    ]
    assert latest_snapshot(tmp_path) == (40, b"state at 40")
    assert segment(tmp_path).exists()  # journal segments are never pruned


def test_large_snapshot_round_trips(tmp_path):
    state = os.urandom(3 << 20)
    write_snapshot(tmp_path, 7, state)

    assert latest_snapshot(tmp_path) == (7, state)


def test_cancel_reason_and_codes_survive_as_enums():
    _, command, events = first_record_with(OrderCanceled)
    _, decoded_command, decoded = decode_record(encode_record(TS, command, events))
    assert type(decoded_command.side) is Side
    assert type(decoded[-1].reason) is CancelReason


def test_record_last_seq_names_the_last_event_without_decoding():
    from venue.journal import record_last_seq

    for ts, command, events in realistic_records():
        payload = encode_record(ts, command, events)
        assert record_last_seq(payload) == (events[-1].seq if events else 0)


def test_read_records_upto_n_stops_there_and_a_later_call_goes_on(tmp_path):
    write_journal(tmp_path, 6)

    assert [no for no, _ in read_records(tmp_path, upto=3)] == [1, 2, 3]
    assert [no for no, _ in read_records(tmp_path, after=3, upto=3)] == []
    assert [no for no, _ in read_records(tmp_path, after=3, upto=10)] == [4, 5, 6]


def test_sql_projection_applies_only_records_the_venue_released(tmp_path):
    """A record written but not yet synced may vanish in a power cut: SQL must never hold
    its events (their sequence numbers would be given to other events after the restart)."""
    records = realistic_records()
    journal_dir = tmp_path / "journal"
    with Journal.open(journal_dir, fsync=False) as journal:
        payloads = [encode_record(*record) for record in records]
        journal.append(payloads)
    released = RecordMarker(journal_dir / RELEASED)
    released.write(2)
    url = f"sqlite:///{tmp_path / 'venue.db'}"
    migrate(url)
    sql = SqlProjector(make_engine(url))
    reader, stop = multiprocessing.Pipe(duplex=False)
    follower = threading.Thread(target=follow, args=(journal_dir, url, reader))
    follower.start()
    try:
        deadline = time.monotonic() + 10
        while sql.last_seq() < record_last_seq(payloads[1]) and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.3)  # several polls of the journal
        assert sql.last_seq() == record_last_seq(payloads[1])

        released.write(len(payloads))
    finally:
        stop.send("stop")  # applies what is released, then returns
        follower.join(10)
        released.close()
    assert not follower.is_alive()
    assert sql.last_seq() == record_last_seq(payloads[-1])
