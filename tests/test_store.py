"""The SQL store: events from the real kernel, projected into SQLite and PostgreSQL.

Every test that takes `db_url` runs on both backends and asserts the rows field by field.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, delete, func, inspect, select, text
from sqlalchemy.orm import Session

from venue.domain.codes import CancelReason, RejectCode
from venue.domain.commands import (
    CancelOrder,
    Command,
    ExpireDayOrders,
    MassCancel,
    NewOrder,
    OperatorAction,
    QueryOrder,
    RejectMessage,
    ReplaceOrder,
)
from venue.domain.events import Event, OrderStatusReported
from venue.domain.reference import Instrument, Reference, SessionInfo, StpMode
from venue.domain.values import OrdType, Side, TimeInForce
from venue.kernel import Kernel
from venue.store.db import alembic_config, current_revision, make_engine, migrate
from venue.store.models import Base, Execution, Order, OrderEvent, ProjectorState, Trade
from venue.store.projector import ProjectionGap, SqlProjector
from venue.store.schema import ddl

HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()

ROOT = Path(__file__).resolve().parent.parent
T0 = 1_700_000_000_123_456  # µs since the epoch: exact as BIGINT on both databases
CENT = 1_000_000  # 0.01 in price units
BUY, SELL = Side.BUY, Side.SELL
LIMIT, DAY, IOC = OrdType.LIMIT, TimeInForce.DAY, TimeInForce.IOC


def px(text: str) -> Decimal:
    return Decimal(text)


class Venue:
    """The real kernel with a clock that advances 10 µs per command; keeps every event."""

    def __init__(self) -> None:
        reference = Reference(
            instruments={"AAPL": Instrument("AAPL", CENT), "MSFT": Instrument("MSFT", CENT)},
            sessions={
                "C1": SessionInfo("C1", "FIRM_A"),
                "C2": SessionInfo("C2", "FIRM_B"),
                "C3": SessionInfo("C3", "FIRM_A"),
            },
        )
        self.kernel = Kernel(reference)
        self.ts = T0
        self.events: list[Event] = []

    def send(self, command: Command) -> list[Event]:
        out = self.kernel.handle(command, self.ts)
        self.ts += 10
        self.events += out
        return out

    def buy(self, session: str, cl: str, qty: int, price: str, **kw: Any) -> list[Event]:
        return self.send(NewOrder(session, cl, "AAPL", BUY, LIMIT, DAY, qty, _units(price), **kw))

    def sell(self, session: str, cl: str, qty: int, price: str, **kw: Any) -> list[Event]:
        return self.send(NewOrder(session, cl, "AAPL", SELL, LIMIT, DAY, qty, _units(price), **kw))


def _units(price: str) -> int:
    return int(Decimal(price) * 100_000_000)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    migrate(db_url)
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


def project(engine: Engine, events: Sequence[Event]) -> SqlProjector:
    projector = SqlProjector(engine)
    projector.apply(events)
    return projector


def all_rows(engine: Engine, model: Any) -> list[Any]:
    key = inspect(model).primary_key[0]
    with Session(engine) as session:
        return list(session.scalars(select(model).order_by(key)))


def dump(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every projected table as sorted tuples, for comparing whole databases."""
    out = {}
    with engine.connect() as conn:
        for model in (Order, Execution, Trade, OrderEvent, ProjectorState):
            table = model.__table__
            rows = conn.execute(select(table).order_by(*table.primary_key.columns))
            out[table.name] = [tuple(r) for r in rows]
    return out


def mixed_stream() -> list[Event]:
    """A day in miniature: resting orders, trades, partial fills, cancels, replaces,
    rejects of every kind, status queries, STP, a mass cancel, an operator halt, expiry."""
    v = Venue()
    v.buy("C1", "b1", 100, "190.01", account="ACC1")
    v.buy("C1", "b2", 50, "190.00")
    v.sell("C2", "s1", 30, "190.05")
    v.sell("C2", "s2", 120, "189.99")  # sweeps b1 then part of b2
    v.send(ReplaceOrder("C1", "b2r", "b2", "AAPL", BUY, LIMIT, DAY, 60, _units("190.02")))
    v.send(CancelOrder("C2", "s1x", "s1", "AAPL", SELL))
    v.send(CancelOrder("C2", "nope", "unknown", "AAPL", SELL))  # CancelRejected
    v.send(QueryOrder("C1", "b1", "AAPL", BUY))
    v.send(QueryOrder("C1", "ghost", "AAPL", BUY))  # unknown order: answered all the same
    v.send(NewOrder("C1", "m1", "MSFT", SELL, LIMIT, IOC, 10, _units("50.00")))
    v.send(NewOrder("C1", "x1", "XXX", BUY, LIMIT, DAY, 10, _units("1.00")))
    v.send(RejectMessage("C2", "D", "bad1", RejectCode.MISSING_FIELD, "OrderQty(38) missing"))
    v.sell("C1", "sa", 40, "191.00")
    v.buy("C3", "ba", 25, "191.00", stp=StpMode.DECREMENT)  # same firm: OrderRestated
    v.sell("C2", "s3", 10, "195.00")
    v.send(MassCancel("C2", "mc1", "7"))
    v.send(OperatorAction("ops", "halt", "instrument", "MSFT"))
    v.buy("C2", "late", 5, "150.00")
    v.send(ExpireDayOrders(v.ts))
    return v.events


# -- one order's life -----------------------------------------------------------------------


def test_order_accepted_partly_filled_then_canceled_is_projected_field_by_field(engine):
    v = Venue()
    v.buy("C1", "b1", 100, "190.01", account="ACC1")
    v.sell("C2", "s1", 40, "190.00")
    v.send(CancelOrder("C1", "b1x", "b1", "AAPL", BUY))
    project(engine, v.events)

    execs = [e for e in all_rows(engine, Execution) if e.order_id == 1]
    assert [e.exec_type for e in execs] == ["new", "trade", "canceled"]
    new, fill, canceled = execs
    assert (new.exec_id, new.session, new.firm, new.account) == (1, "C1", "FIRM_A", "ACC1")
    assert (new.cl_ord_id, new.orig_cl_ord_id, new.symbol, new.side) == ("b1", None, "AAPL", "1")
    assert (new.ord_status, new.price, new.qty) == ("0", px("190.01"), 100)
    assert (new.cum_qty, new.leaves_qty, new.avg_px) == (0, 100, 0)
    assert (new.last_px, new.last_qty, new.trade_id, new.liquidity) == (None, None, None, None)
    assert (new.reject_code, new.text, new.transact_us) == (None, None, T0)

    assert fill.ord_status == "1"
    assert (fill.last_px, fill.last_qty, fill.trade_id) == (px("190.01"), 40, 1)
    assert fill.liquidity == "A"  # resting: added liquidity
    assert (fill.cum_qty, fill.leaves_qty, fill.avg_px) == (40, 60, px("190.01"))
    assert fill.transact_us == T0 + 10

    assert (canceled.cl_ord_id, canceled.orig_cl_ord_id) == ("b1x", "b1")
    assert (canceled.ord_status, canceled.cum_qty, canceled.leaves_qty) == ("4", 40, 0)
    assert (canceled.avg_px, canceled.text) == (px("190.01"), "canceled at request")
    assert canceled.last_px is None and canceled.transact_us == T0 + 20

    aggressor_fill = [e for e in all_rows(engine, Execution) if e.order_id == 2][1]
    assert (aggressor_fill.exec_type, aggressor_fill.liquidity) == ("trade", "R")
    assert (aggressor_fill.ord_status, aggressor_fill.price, aggressor_fill.last_px) == (
        "2", px("190.00"), px("190.01"),
    )  # fmt: skip

    (order, _) = all_rows(engine, Order)
    assert (order.order_id, order.session, order.firm, order.account) == (1, "C1", "FIRM_A", "ACC1")
    assert (order.cl_ord_id, order.orig_cl_ord_id, order.symbol, order.side) == (
        "b1x", "b1", "AAPL", "1",
    )  # fmt: skip
    assert (order.ord_type, order.tif, order.price, order.qty) == ("2", "0", px("190.01"), 100)
    assert (order.cum_qty, order.leaves_qty, order.avg_px, order.status) == (
        40, 0, px("190.01"), "4",
    )  # fmt: skip
    assert (order.priority_ts_us, order.created_us, order.updated_us) == (T0, T0, T0 + 20)
    assert order.last_seq == v.events[-1].seq


def test_trade_row_names_both_sides_the_aggressor_and_the_notional(engine):
    v = Venue()
    v.sell("C2", "s1", 30, "190.05")
    v.buy("C1", "b1", 30, "190.10")
    project(engine, v.events)

    (trade,) = all_rows(engine, Trade)
    assert (trade.trade_id, trade.seq, trade.symbol) == (1, 3, "AAPL")
    assert (trade.price, trade.qty, trade.notional) == (px("190.05"), 30, px("5701.50"))
    assert trade.aggressor_side == "1"
    assert (trade.buy_order_id, trade.sell_order_id) == (2, 1)
    assert (trade.buy_firm, trade.sell_firm) == ("FIRM_A", "FIRM_B")
    assert (trade.buy_session, trade.sell_session) == ("C1", "C2")
    assert (trade.executed_us, trade.status) == (T0 + 10, "active")


def test_average_price_is_rounded_half_up_to_eight_decimals(engine):
    v = Venue()
    v.sell("C2", "s1", 1, "190.01")
    v.sell("C2", "s2", 2, "190.02")
    v.buy("C1", "b1", 3, "190.02")
    project(engine, v.events)

    (_, _, order) = all_rows(engine, Order)
    assert (order.cum_qty, order.avg_px) == (3, px("190.01666667"))  # 570.05 / 3


def test_rejected_order_has_an_execution_row_with_code_and_text(engine):
    v = Venue()
    v.send(NewOrder("C1", "x1", "XXX", BUY, LIMIT, DAY, 10, _units("1.00"), "ACC9"))
    v.send(RejectMessage("C2", "D", "bad1", RejectCode.MISSING_FIELD, "OrderQty(38) missing"))
    project(engine, v.events)

    unknown, undecodable = all_rows(engine, Execution)
    assert (unknown.exec_type, unknown.ord_status) == ("rejected", "8")
    assert (unknown.reject_code, unknown.text) == (RejectCode.UNKNOWN_SYMBOL, "unknown symbol XXX")
    assert (unknown.cl_ord_id, unknown.symbol, unknown.account) == ("x1", "XXX", "ACC9")
    assert (unknown.qty, unknown.cum_qty, unknown.leaves_qty) == (10, 0, 0)
    assert (undecodable.reject_code, undecodable.text) == (1007, "OrderQty(38) missing")
    assert (undecodable.session, undecodable.firm, undecodable.price) == ("C2", "FIRM_B", None)

    rejected, _ = all_rows(engine, Order)
    assert (rejected.status, rejected.ord_type, rejected.tif) == ("8", "2", "0")
    assert all_rows(engine, Order)[1].ord_type is None  # nothing decoded, nothing invented


# -- the audit trail ---------------------------------------------------------------------


def test_audit_trail_has_one_row_per_event_with_consecutive_seqs(engine):
    events = mixed_stream()
    project(engine, events)

    audit = all_rows(engine, OrderEvent)
    assert [r.seq for r in audit] == list(range(1, len(events) + 1))
    assert [r.event_type for r in audit] == [type(e).__name__ for e in events]
    assert [r.ts_us for r in audit] == [e.ts for e in events]
    kinds = {r.event_type for r in audit}
    assert {"TradeExecuted", "CancelRejected", "OrderRestated", "MassCancelReported",
            "OperatorActionApplied", "OrderExpired", "OrderReplaced"} <= kinds  # fmt: skip

    reports = [
        e
        for e in events
        if (getattr(e, "order", None) is not None and type(e).__name__ != "CancelRejected")
        or type(e).__name__ == "OrderStatusReported"  # unknown orders are answered too
    ]
    assert [r.exec_id for r in all_rows(engine, Execution)] == [e.seq for e in reports]
    assert len(all_rows(engine, Trade)) == sum(r.event_type == "TradeExecuted" for r in audit)


def test_audit_rows_of_each_kind_carry_what_the_event_said(engine):
    events = mixed_stream()
    project(engine, events)
    rows = {r.seq: r for r in all_rows(engine, OrderEvent)}

    def first(name: str) -> OrderEvent:
        return next(r for r in rows.values() if r.event_type == name)

    trade = first("TradeExecuted")
    assert (trade.order_id, trade.session, trade.symbol, trade.side) == (None, None, "AAPL", "2")
    assert (trade.price, trade.qty, trade.last_px, trade.last_qty, trade.trade_id) == (
        px("190.01"), 100, px("190.01"), 100, 1,
    )  # fmt: skip

    fill = first("OrderFilled")
    assert (fill.order_id, fill.status, fill.last_px, fill.last_qty) == (4, "1", px("190.01"), 100)
    assert (fill.cum_qty, fill.leaves_qty, fill.priority_ts_us) == (100, 20, T0 + 30)

    reject = first("CancelRejected")
    assert (reject.session, reject.cl_ord_id, reject.orig_cl_ord_id) == ("C2", "nope", "unknown")
    assert (reject.reject_code, reject.text) == (RejectCode.UNKNOWN_ORDER, "unknown order unknown")
    assert reject.order_id is None and json.loads(reject.detail) == {"response_to": "1"}

    replaced = first("OrderReplaced")
    assert (replaced.cl_ord_id, replaced.orig_cl_ord_id, replaced.qty) == ("b2r", "b2", 60)
    assert (replaced.price, replaced.priority_ts_us) == (px("190.02"), T0 + 40)

    ioc = next(r for r in rows.values() if r.cl_ord_id == "m1" and r.event_type == "OrderCanceled")
    assert (ioc.cancel_reason, ioc.text) == (CancelReason.IOC_REMAINDER, "IOC remainder canceled")

    known, unknown = [r for r in rows.values() if r.event_type == "OrderStatusReported"]
    assert (known.order_id, known.status, known.cum_qty) == (1, "2", 100)
    assert (unknown.order_id, unknown.session, unknown.cl_ord_id) == (None, "C1", "ghost")
    assert (unknown.symbol, unknown.side, unknown.status) == ("AAPL", "1", None)

    restated = first("OrderRestated")
    assert restated.text.startswith("self-trade prevented")
    assert first("OrderCanceled").cancel_reason == CancelReason.REQUESTED

    mass = first("MassCancelReported")
    assert (mass.session, mass.cl_ord_id) == ("C2", "mc1")
    assert json.loads(mass.detail) == {"affected": 1, "request_type": "7", "response": "7"}

    halt = first("OperatorActionApplied")
    assert halt.text.startswith("MSFT halted")
    assert json.loads(halt.detail) == {
        "action": "halt", "field": "", "key": "MSFT", "ok": True, "operator": "ops",
        "scope": "instrument", "value": None,
    }  # fmt: skip

    status_execs = [e for e in all_rows(engine, Execution) if e.exec_type == "status"]
    assert [e.exec_id for e in status_execs] == [known.seq, unknown.seq]


# -- idempotence and batching ------------------------------------------------------------


def test_applying_the_same_batch_twice_or_overlapping_batches_changes_nothing(engine):
    events = mixed_stream()
    projector = SqlProjector(engine)
    assert projector.apply(events) == len(events)
    once = dump(engine)

    assert projector.apply(events) == len(events)
    assert projector.apply(events[10:30]) == len(events)
    assert projector.apply([]) == len(events)
    assert dump(engine) == once


def test_overlapping_batches_give_what_one_batch_gives(engine):
    events = mixed_stream()
    projector = SqlProjector(engine)
    for start in range(0, len(events), 7):
        projector.apply(events[max(0, start - 3) : start + 7])  # each batch repeats 3
    assert projector.last_seq() == len(events)
    batched = dump(engine)

    with engine.begin() as conn:
        for model in (Order, Execution, Trade, OrderEvent, ProjectorState):
            conn.execute(delete(model))
    SqlProjector(engine).apply(events)
    assert dump(engine) == batched


def test_rows_already_written_are_kept_even_if_projector_state_is_behind(engine):
    events = mixed_stream()
    projector = SqlProjector(engine)
    projector.apply(events + events[:5])  # a repeated event in one batch is written once
    once = dump(engine)
    with engine.begin() as conn:  # as if projector_state came back from an older backup
        conn.execute(ProjectorState.__table__.update().values(last_seq=0))

    projector.apply(events[: len(events) // 2])
    again = dump(engine)
    assert again.pop("projector_state") == [(1, len(events) // 2)]
    assert again == {k: v for k, v in once.items() if k != "projector_state"}  # no order
    # row went back to an older state, no row was written twice


def test_orders_table_shows_the_latest_state_when_its_events_span_batches(engine):
    v = Venue()
    v.buy("C1", "b1", 100, "190.00")
    v.send(ReplaceOrder("C1", "b1r", "b1", "AAPL", BUY, LIMIT, DAY, 80, _units("190.10")))
    v.sell("C2", "s1", 30, "190.10")
    projector = SqlProjector(engine)
    for event in v.events:  # one event per batch
        projector.apply([event])

    order = all_rows(engine, Order)[0]
    assert (order.cl_ord_id, order.orig_cl_ord_id, order.qty, order.price) == (
        "b1r", "b1", 80, px("190.10"),
    )  # fmt: skip
    assert (order.cum_qty, order.leaves_qty, order.status) == (30, 50, "1")
    assert (order.priority_ts_us, order.created_us, order.updated_us) == (T0 + 10, T0, T0 + 20)
    assert order.last_seq == v.events[-1].seq


def test_a_batch_that_skips_events_is_refused_and_writes_nothing(engine):
    events = mixed_stream()
    projector = SqlProjector(engine)
    projector.apply(events[:5])
    with pytest.raises(ProjectionGap, match="expected event seq 6, got 7"):
        projector.apply(events[6:12])
    assert projector.last_seq() == 5
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(OrderEvent)).scalar() == 5


@pytest.mark.postgres
def test_sqlite_and_postgres_hold_the_same_rows(sqlite_url, pg_url):
    events = mixed_stream()
    dumps = []
    for url in (sqlite_url, pg_url):
        migrate(url)
        engine = make_engine(url)
        project(engine, events)
        dumps.append(dump(engine))
        engine.dispose()
    assert dumps[0] == dumps[1]


def test_any_split_into_batches_with_repeats_gives_the_same_tables(engine):
    events = mixed_stream()
    SqlProjector(engine).apply(events)
    expected = dump(engine)
    n = len(events)

    @settings(max_examples=15, deadline=None, database=None)
    @given(
        cuts=st.sets(st.integers(1, n - 1), max_size=12),
        back=st.lists(st.integers(0, 6), min_size=13, max_size=13),
        again=st.lists(st.booleans(), min_size=13, max_size=13),
    )
    def check(cuts: set[int], back: list[int], again: list[bool]) -> None:
        with engine.begin() as conn:
            for model in (Order, Execution, Trade, OrderEvent, ProjectorState):
                conn.execute(delete(model))
        projector = SqlProjector(engine)
        bounds = [0, *sorted(cuts), n]
        for i, (start, end) in enumerate(zip(bounds, bounds[1:], strict=False)):
            batch = events[max(0, start - back[i]) : end]  # overlap the previous batch
            projector.apply(batch)
            if again[i]:
                projector.apply(batch)
        assert dump(engine) == expected

    check()


# -- schema and migrations ---------------------------------------------------------------


def test_migrate_on_an_empty_database_then_the_projector_works(db_url):
    migrate(db_url)
    migrate(db_url)  # already at head: nothing to do
    assert current_revision(db_url) == HEAD

    engine = make_engine(db_url)
    try:
        assert set(inspect(engine).get_table_names()) == {
            "alembic_version", "executions", "order_events", "orders", "projector_state",
            "trades",
        }  # fmt: skip
        projector = SqlProjector(engine)
        assert projector.last_seq() == 0
        events = mixed_stream()
        assert projector.apply(events) == len(events) == projector.last_seq()
    finally:
        engine.dispose()


def test_the_migrations_build_exactly_the_models_schema(db_url):
    migrate(db_url)
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "compare_server_default": True}
            )
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()


def test_sqlite_engine_creates_the_directory_and_uses_wal(sqlite_url):
    engine = make_engine(sqlite_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("PRAGMA synchronous")).scalar() == 1  # NORMAL
        assert Path(engine.url.database or "").exists()
    finally:
        engine.dispose()


def test_schema_sql_is_what_the_schema_module_prints_now():
    printed = subprocess.run(
        [sys.executable, "-m", "venue.store.schema"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert printed == ddl()
    assert (ROOT / "sql" / "schema.sql").read_text() == printed, (
        "sql/schema.sql is stale: run `python -m venue.store.schema > sql/schema.sql`"
    )


def test_unknown_order_status_answer_has_its_execution_row_without_an_order(engine):
    v = Venue()
    (answer,) = v.send(QueryOrder("C1", "ghost", "AAPL", BUY))
    assert isinstance(answer, OrderStatusReported) and answer.order is None
    project(engine, v.events)
    [row] = all_rows(engine, Execution)
    assert (row.exec_id, row.order_id, row.cl_ord_id, row.exec_type, row.ord_status) == (
        answer.seq,
        None,
        "ghost",
        "status",
        "8",
    )
    assert row.text == "unknown order ghost"
    assert [r.event_type for r in all_rows(engine, OrderEvent)] == ["OrderStatusReported"]


def test_downgrade_to_base_removes_every_table(db_url):
    from alembic import command

    from venue.store.db import alembic_config

    migrate(db_url)
    engine = make_engine(db_url)
    try:
        config = alembic_config()
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, "base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        migrate(engine)  # and back up again
        assert current_revision(engine) == HEAD
    finally:
        engine.dispose()


def test_order_terms_migration_adds_nullable_columns_and_keeps_rows(db_url):
    """0001 -> 0002_order_terms on a database with an order in it, and back down."""
    from alembic import command

    engine = make_engine(db_url)
    try:
        config = alembic_config()
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "0001")
            conn.execute(
                text(
                    "INSERT INTO orders (order_id, session, firm, cl_ord_id, symbol, side, qty,"
                    " cum_qty, leaves_qty, avg_px, status, priority_ts_us, created_us,"
                    " updated_us, last_seq) VALUES (1, 'C1', 'F1', 'a', 'AAPL', '1', 10, 0,"
                    " 10, 0, '0', 1, 1, 1, 1)"
                )
            )
            command.upgrade(config, "0002_order_terms")
            row = conn.execute(
                text(
                    "SELECT order_id, stop_px, exec_inst, expire_us, expire_date, min_qty"
                    " FROM orders"
                )
            ).one()
            assert tuple(row) == (1, None, None, None, None, None)
            cols = {c["name"] for c in inspect(conn).get_columns("order_events")}
            assert {
                "stop_px",
                "exec_inst",
                "expire_us",
                "expire_date",
                "min_qty",
                "max_floor",
            } <= cols
            command.downgrade(config, "0001")
            cols = {c["name"] for c in inspect(conn).get_columns("orders")}
            assert "stop_px" not in cols
            assert conn.execute(text("SELECT count(*) FROM orders")).scalar() == 1
    finally:
        engine.dispose()


def test_new_order_terms_land_in_orders_and_the_audit_trail(db_url):
    migrate(db_url)
    engine = make_engine(db_url)
    try:
        k = Kernel(
            Reference(
                {"AAPL": Instrument("AAPL", 1_000_000)},
                {"C1": SessionInfo("C1", "FIRM1"), "C2": SessionInfo("C2", "FIRM2")},
            )
        )
        ts = 1_767_225_600_000_000
        events = []
        for cmd in (
            NewOrder("C1", "st", "AAPL", Side.BUY, OrdType.STOP_LIMIT, TimeInForce.GTD, 10,
                     101 * 100_000_000, stop_px=101 * 100_000_000, expire_ts=ts + 10**9),
            NewOrder("C2", "po", "AAPL", Side.SELL, OrdType.LIMIT, TimeInForce.DAY, 10,
                     105 * 100_000_000, post_only=True),
            NewOrder("C2", "mq", "AAPL", Side.SELL, OrdType.LIMIT, TimeInForce.IOC, 10,
                     105 * 100_000_000, min_qty=5),
            NewOrder("C1", "gd", "AAPL", Side.BUY, OrdType.LIMIT, TimeInForce.GTD, 10,
                     99 * 100_000_000, expire_date=20260105),
            NewOrder("C1", "ice", "AAPL", Side.BUY, OrdType.LIMIT, TimeInForce.DAY, 10,
                     98 * 100_000_000, max_floor=2),
        ):  # fmt: skip
            events += k.handle(cmd, ts)
        SqlProjector(engine).apply(events)
        with Session(engine) as s:
            got = {
                o.cl_ord_id: (o.stop_px, o.exec_inst, o.expire_us, o.expire_date, o.min_qty)
                for o in s.scalars(select(Order))
            }
            audit = {
                (e.cl_ord_id, e.event_type): (e.stop_px, e.exec_inst, e.min_qty)
                for e in s.scalars(select(OrderEvent))
            }
        assert got == {
            "st": (Decimal(101), None, ts + 10**9, None, None),
            "po": (None, "6", None, None, None),
            "mq": (None, None, None, None, 5),
            "gd": (None, None, None, 20260105, None),
            "ice": (None, None, None, None, None),
        }
        assert audit[("st", "OrderAccepted")] == (Decimal(101), None, None)
        assert audit[("mq", "OrderCanceled")] == (None, None, 5)
        # the exports' order records carry them as RTS 24 fields
        from venue.reporting.exports import order_record, order_records_query

        with engine.connect() as conn:
            rows = conn.execute(order_records_query(ts - 1, ts + 1)).all()
        records = {(r["cl_ord_id"], r["event_type"]): r for r in map(order_record, rows)}
        st = records[("st", "OrderAccepted")]
        assert (st["order_type"], st["validity"], st["stop_price"]) == ("stop_limit", "GTDV", "101")
        assert st["validity_until"] == "2026-01-01T00:16:40.000000Z"
        assert records[("po", "OrderAccepted")]["order_restriction"] == "POST"
        mq = records[("mq", "OrderCanceled")]
        assert (mq["order_restriction"], mq["min_qty"]) == ("MINQ", 5)
        assert records[("gd", "OrderAccepted")]["validity_until"] == "2026-01-05"
        assert records[("ice", "OrderAccepted")]["display_qty"] == 2
        with Session(engine) as s:
            assert s.scalars(select(Order.max_floor).where(Order.cl_ord_id == "ice")).one() == 2
    finally:
        engine.dispose()
