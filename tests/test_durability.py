"""Nothing leaves before it is durable (architecture rule 4), on the harness with the real
journal and fsync on: every report and drop copy handed to the gateway carries an event
whose journal record was fdatasync'd first; each session's reports go out in event order;
a journal that fails to sync stops the venue with nothing of that batch sent, and a
restart recovers without it."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from venue.journal import read_records, record_last_seq
from venue.testing.harness import Harness

BUY, SELL = "1", "2"


def order(h: Harness, session: str, cl: str, side: str, qty: int, px: str) -> None:
    h.send(session, "D", {11: cl, 55: "AAPL", 54: side, 38: str(qty), 40: "2", 44: px, 59: "0"})


def durable_seq(journal_dir: Path) -> int:
    last = 0
    for _, payload in read_records(journal_dir):
        last = record_last_seq(payload) or last
    return last


def test_every_report_and_copy_is_sent_after_its_record_is_synced_in_event_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = Harness(tmp_path, fsync=True)
    for session in ("CLIENT1", "CLIENT2", "DROPCOPY"):
        h.logon(session)
    venue = h.venue
    synced = {"seq": durable_seq(venue.journal_dir), "syncs": 0}
    real_sync = os.fdatasync

    def sync(fd: int) -> None:
        real_sync(fd)
        synced["syncs"] += 1
        synced["seq"] = durable_seq(venue.journal_dir)

    monkeypatch.setattr(os, "fdatasync", sync)
    sent: dict[str, list[int]] = {}
    early: list[int] = []  # not raised in send: the venue logs a failed send and goes on
    real_send = h.gateway.send

    def send(session: str, text: str) -> None:
        if "\x0135=8\x01" in text:
            exec_id = int(text.split("\x0117=", 1)[1].split("\x01", 1)[0])
            if exec_id > synced["seq"]:
                early.append(exec_id)
            sent.setdefault(session, []).append(exec_id)
        real_send(session, text)

    monkeypatch.setattr(h.gateway, "send", send)
    for i in range(20):
        order(h, "CLIENT1", f"b{i}", BUY, 100, "189.00")
        order(h, "CLIENT2", f"s{i}", SELL, 60 + i, "189.00")  # fills, partly
    h.send("CLIENT1", "F", {41: "b19", 11: "x19", 55: "AAPL", 54: BUY, 38: "100"})
    assert synced["syncs"] >= 41
    assert early == [], "reports handed to the gateway before their record was synced"
    assert set(sent) == {"CLIENT1", "CLIENT2", "DROPCOPY"}
    for session, exec_ids in sent.items():
        assert exec_ids == sorted(exec_ids) and len(set(exec_ids)) == len(exec_ids), session
    assert sorted(sent["DROPCOPY"]) == sorted(sent["CLIENT1"] + sent["CLIENT2"])
    h.close()


def test_a_failed_fsync_stops_the_venue_sends_nothing_of_the_batch_and_restart_recovers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = Harness(tmp_path, fsync=True)
    for session in ("CLIENT1", "DROPCOPY"):
        h.logon(session)
    order(h, "CLIENT1", "kept", BUY, 100, "189.00")
    assert [m[11] for m in h.received("CLIENT1")] == ["kept"]
    h.received("DROPCOPY")
    records = h.venue.journal.last_record_no
    real_sync = os.fdatasync

    def broken(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "fdatasync", broken)
    with pytest.raises(RuntimeError, match="journal write failed"):
        order(h, "CLIENT1", "lost", BUY, 100, "188.00")
    assert h.venue.failed.is_set()
    assert h.received("CLIENT1") == [] and h.received("DROPCOPY") == []  # nothing left
    monkeypatch.setattr(os, "fdatasync", real_sync)
    assert [no for no, _ in read_records(h.venue.journal_dir)][-1] == records  # cut off

    again = Harness(tmp_path, fsync=True)  # the restart
    assert {o.cl_ord_id for o in again.kernel.live.values()} == {"kept"}
    again.logon("CLIENT1")
    order(again, "CLIENT1", "lost", BUY, 100, "188.00")  # never accepted: a new order now
    [ack] = [m for m in again.received("CLIENT1") if m.get(35) == "8"]
    assert ack[11] == "lost" and ack[150] == "0"
    again.close()
