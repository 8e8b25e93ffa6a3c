"""One client message must never stop the SQL store (issue 16).

Over TCP against the real venue, on SQLite and on PostgreSQL: the two messages that used to
poison the projection for good (a 31-digit OrderQty: SQLite OverflowError; a NUL inside a
ClOrdID: PostgreSQL DataError) are rejected at the FIX edge with a Text that names the
field, and every later event still reaches SQL. An event the database still refuses (one
the kernel was given directly, which no FIX input can produce any more) is reported: the
status file names its seq and `venue ready` fails with the reason.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from click.testing import CliRunner
from fix_fixtures import ClientFactory
from fixclient import describe
from sqlalchemy import select

from venue.app import Venue
from venue.cli import main
from venue.domain.codes import RejectCode
from venue.domain.commands import RejectMessage
from venue.projection import read_status
from venue.store.models import Execution, Order, OrderEvent

BUY = "1"


def _ready(venue: Venue) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["ready", "--data-dir", str(venue.data_dir)])
    return result.exit_code, result.output


def test_absurd_quantity_and_nul_in_cl_ord_id_are_rejected_and_sql_goes_on(
    venue: Venue, fix_client_factory: ClientFactory
) -> None:
    c1 = fix_client_factory("CLIENT1")
    common = [(55, "AAPL"), (54, BUY), (60, c1.utc_now()), (40, "2"), (59, "0")]

    c1.send("D", [(11, "huge"), *common, (38, "1" + "0" * 30), (44, "190.00")])
    huge = c1.wait_for(lambda m: m.get(35) == "8" and m.get(11) == "huge", 10, "huge")
    c1.send("D", [(11, b"a\x00b"), *common, (38, "10"), (44, "190.00")])
    nul = c1.wait_for(lambda m: m.get(35) == "8" and m.get(11) == "a?b", 10, "a?b")
    c1.new_order("later", "AAPL", BUY, 10, price="189.00")
    later = c1.wait_for(lambda m: m.get(35) == "8" and m.get(11) == "later", 10, "later")

    assert (huge[150], huge[39], huge[103]) == ("8", "8", "13"), describe(huge)
    assert huge[58] == (
        "quantity out of range: OrderQty(38)=100000000000000000000..., at most 1000000000000"
    )
    assert (nul[150], nul[103]) == ("8", "99"), describe(nul)
    assert nul[58] == "ClOrdID(11) contains a control character (0x00)"
    assert later[150] == "0", describe(later)

    venue.wait_until_projected(timeout=20)
    with venue.db.connect() as conn:
        rejects = conn.execute(
            select(Execution.cl_ord_id, Execution.qty, Execution.text).where(
                Execution.exec_type == "rejected"
            )
        ).all()
        resting = conn.execute(select(Order.status).where(Order.cl_ord_id == "later")).one()
        kinds = conn.execute(select(OrderEvent.event_type).order_by(OrderEvent.seq)).scalars()
        kinds = list(kinds)
    assert sorted(rejects) == sorted([("huge", 0, huge[58]), ("a?b", 10, nul[58])])
    assert resting.status == "0"
    # ACME's schedule may have set its phase at the start (a PhaseChanged, by time of day)
    assert [k for k in kinds if k != "PhaseChanged"] == [
        "OrderRejected", "OrderRejected", "OrderAccepted"
    ]  # fmt: skip
    code, output = _ready(venue)
    seq = venue.kernel.counters.seq
    assert code == 0 and f"ready: SQL projection at event seq {seq}" in output, output


def test_event_the_database_refuses_is_reported_and_ready_fails(
    venue_factory: Callable[..., Venue], db_url: str, fix_client_factory: ClientFactory
) -> None:
    venue = venue_factory(database_url=db_url)
    c1 = fix_client_factory("CLIENT1")
    c1.new_order("before", "AAPL", BUY, 10, price="189.00")
    c1.expect("8", ClOrdID="before", ExecType="0")
    venue.wait_until_projected(timeout=20)

    # No FIX message can make this command any more; given to the kernel directly, it is
    # an event with a quantity no 64-bit column holds.
    [poison] = venue.execute(
        RejectMessage("CLIENT1", "D", "bug", RejectCode.INVALID_QUANTITY, "a bug", qty=10**30)
    )

    deadline = time.monotonic() + 30
    while (status := read_status(venue.data_dir) or {}).get("state") != "poisoned":
        assert time.monotonic() < deadline, f"no poison reported: {status}"
        time.sleep(0.05)
    assert status["poison_seq"] == poison.seq and status["last_seq"] == poison.seq - 1
    assert venue.projection.status() == status  # what the venue exposes
    assert int(status["failures"]) >= 1  # type: ignore[call-overload]
    code, output = _ready(venue)
    assert code == 1, output
    assert f"not ready: SQL projection poisoned at event seq {poison.seq}" in output, output
    # Nothing was skipped: SQL stops before the event and the journal keeps it.
    with venue.db.connect() as conn:
        seqs = conn.execute(select(OrderEvent.seq)).scalars().all()
    assert max(seqs) == poison.seq - 1
