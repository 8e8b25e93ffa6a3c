"""The malformed-input corpus (tests/corpus.py) played against the live venue over TCP.

One venue per database (SQLite, PostgreSQL). First the messages that end a session, each
on a fresh CLIENT1 connection; then every in-session message, pipelined on one CLIENT1
session, while CLIENT2 keeps trading on another symbol (each of its orders acknowledged,
then canceled).
Every message must get exactly its expected class of answer (a message with a raw CR or
LF is dropped unread by the gatekeeper's hop, like a garbled one); afterwards CLIENT1's resting
order is as it was, both sessions still trade, SQL holds every event without a gap, and
`venue ready` passes.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from pathlib import Path

import corpus
from click.testing import CliRunner
from fix_fixtures import ClientFactory
from fixclient import FixClient, Message, describe
from sqlalchemy import func, select

from venue.app import Venue
from venue.cli import main
from venue.config import VenueSettings
from venue.fix import bounds
from venue.store.models import Order, OrderEvent


def classify(msg: Message) -> str:
    kind = msg.get(35)
    if kind == "3":
        return "session_reject"
    if kind == "j":
        return "business_reject"
    if kind == "8":
        if msg.get(150) == "8" and msg.get(39) == "8" and 103 in msg:
            return "order_reject"
        if msg.get(150) == "I" and msg.get(39) == "8" and msg.get(37) == "NONE" and 103 in msg:
            return "status_unknown"
        if msg.get(150) == "I":
            return "status_live"
        return f"ExecutionReport 150={msg.get(150)}"
    if kind == "9" and 102 in msg:
        return "cancel_reject"
    if kind == "r":
        return "mass_reject" if msg.get(531) == "0" else f"mass cancel 531={msg.get(531)}"
    return f"35={kind}"


class Healthy(threading.Thread):
    """CLIENT2 trading throughout: rest a MSFT order, see it acknowledged, cancel it."""

    def __init__(self, client: FixClient) -> None:
        super().__init__(daemon=True)
        self.client = client
        self.stop = threading.Event()
        self.acked = 0
        self.sent = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            c = self.client
            while not self.stop.is_set():
                n = self.sent = self.sent + 1
                c.new_order(f"h{n}", "MSFT", "1", 1, price="400")
                c.expect("8", ClOrdID=f"h{n}", ExecType="0")
                c.cancel(f"h{n}x", f"h{n}", "MSFT", "1")
                c.expect("8", ClOrdID=f"h{n}x", ExecType="4")
                self.acked += 1
        except BaseException as exc:  # reported by the test
            self.error = exc


def play_breaking(port: int, item: corpus.Breaking) -> str:
    c = FixClient.connect(port, sender="CLIENT1")
    try:
        c.send_raw(item.raw(c.next_out, "CLIENT1", c.utc_now()))
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                c.receive(0.5)
            except ConnectionError:
                break
            except AssertionError:
                continue  # nothing yet
        else:
            return "kept"
        return "logout" if any(m.get(35) == "5" for m in c.received[1:]) else "disconnect"
    finally:
        c.close()


def test_corpus_gets_its_answers_while_a_healthy_session_trades(
    tmp_path: Path, free_port: int, fix_client_factory: ClientFactory, db_url: str
) -> None:
    settings = VenueSettings(port=free_port, data_dir=tmp_path / "data", database_url=db_url)
    venue = Venue(settings)
    venue.start()
    try:
        _play(venue, free_port, fix_client_factory)
    finally:
        fix_client_factory.close_all()
        venue.stop()


def _play(venue: Venue, port: int, factory: ClientFactory) -> None:
    wrong = {}
    for item in corpus.breaking():
        got = play_breaking(port, item)
        if got != item.expect:
            wrong[item.name] = (item.expect, got)
    assert not wrong, wrong

    c2 = factory("CLIENT2")
    healthy = Healthy(c2)
    healthy.start()
    c1 = factory("CLIENT1")
    deadline = time.monotonic() + 30
    while healthy.acked < 1 and healthy.error is None:  # it trades before the corpus starts
        assert time.monotonic() < deadline, "the healthy session did not trade"
        time.sleep(0.01)
    c1.new_order(corpus.LIVE, "AAPL", "1", 10, price=corpus.LIVE_PX)
    live = c1.expect("8", ClOrdID=corpus.LIVE, ExecType="0")
    start = len(c1.received)

    cases = corpus.cases()
    by_seq: dict[str, corpus.Case] = {}
    by_cl: dict[str, list[corpus.Case]] = defaultdict(list)
    for case in cases:
        seq = c1.next_out
        now = c1.utc_now()
        if case.raw is not None:
            c1.send_raw(case.raw(seq, now))
            if case.expect != "ignored":
                c1.next_out += 1
        else:
            fields = [(t, now if (t, v) == (60, "T") else v) for t, v in case.fields]
            c1.send(case.msg_type, fields)
            if case.expect == "ignored":  # dropped by the hop: its number is not used
                c1.next_out -= 1
        if case.expect in ("session_reject", "business_reject"):
            by_seq[str(seq)] = case
        elif case.expect != "ignored":
            by_cl[case.echo].append(case)
    # The barrier: reports come in order, so once this answer is here every answer is.
    c1.status(corpus.LIVE, "AAPL", "1")
    barrier = corpus.Case("barrier", "H", (), "status_live", corpus.LIVE)
    by_cl[corpus.LIVE].append(barrier)
    c1.wait_for(
        lambda m: m.get(35) == "8" and m.get(11) == corpus.LIVE and m.get(150) == "I"
        and m.get(39) == "0",
        60,
        "the barrier",
    )  # fmt: skip

    acked_before = healthy.acked
    deadline = time.monotonic() + 30
    while healthy.acked <= acked_before + 1 and healthy.error is None:  # and after it ends
        assert time.monotonic() < deadline, "the healthy session stopped trading"
        time.sleep(0.01)
    answers = [m for m in c1.received[start:] if m.get(35) in ("3", "j", "8", "9", "r")]
    got_by_cl: dict[str, list[Message]] = defaultdict(list)
    problems = []
    for msg in answers:
        text = msg.get(58, "")
        if len(text) > bounds.MAX_OUT_TEXT or any(ch < " " for ch in text):
            problems.append(f"Text not capped or with control characters: {describe(msg)}")
        if msg[35] in ("3", "j"):
            case = by_seq.pop(msg.get(45, ""), None)
            if case is None or classify(msg) != case.expect:
                problems.append(f"{case.name if case else '?'}: {describe(msg)}")
        else:
            got_by_cl[msg.get(11, "")].append(msg)
    problems += [f"{c.name}: no {c.expect}" for c in by_seq.values()]
    for cl, expected in by_cl.items():
        got = [classify(m) for m in got_by_cl.pop(cl, [])]
        if got != [c.expect for c in expected]:
            problems.append(
                f"11={cl[:20]}: expected {[(c.name, c.expect) for c in expected]}, got {got}"
            )
    problems += [f"unexpected: {describe(m)}" for ms in got_by_cl.values() for m in ms]
    assert not problems, "\n".join(problems[:200]) + f"\n({len(problems)} problems)"

    healthy.stop.set()
    healthy.join(30)
    assert healthy.error is None, healthy.error
    # Every order the healthy session sent was acknowledged and canceled (it stops only
    # between two round trips; it was trading before the corpus started and after it ended).
    assert healthy.acked == healthy.sent and healthy.acked > acked_before, healthy.sent

    # The venue still serves: CLIENT1's order is untouched and trades with CLIENT2.
    c2.new_order("after", "AAPL", "2", 10, price=corpus.LIVE_PX)
    fill = c1.expect("8", ClOrdID=corpus.LIVE, ExecType="F", OrdStatus="2", LastQty="10")
    assert fill[37] == live[37]
    venue.wait_until_projected(timeout=30)
    with venue.db.connect() as conn:
        count, low, high = conn.execute(
            select(func.count(), func.min(OrderEvent.seq), func.max(OrderEvent.seq))
        ).one()
        status = conn.execute(select(Order.status).where(Order.order_id == int(live[37]))).one()
    assert (count, low, high) == (venue.kernel.counters.seq, 1, venue.kernel.counters.seq)
    assert status.status == "2"
    result = CliRunner().invoke(main, ["ready", "--data-dir", str(venue.data_dir)])
    assert result.exit_code == 0, result.output
