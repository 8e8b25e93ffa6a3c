"""Exports from the SQL store (venue.reporting): formats, reconciliation, filters, memory.

Layers:
- formats: schemas, wire values, validation of rows and files, spec/exports.md in step;
- a known day of trading through FIX (real venue, SQLite and PostgreSQL): every export
  checked field by field against what the clients received, totals against `trades` and
  `order_events`, filters by firm, symbol and time;
- the kernel with chosen timestamps: the spoofing window to the microsecond;
- a synthetic day (venue.reporting.synthetic): every number recomputed from the raw tables,
  busts included; memory flat on ~50k rows (tracemalloc peak, not timing).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import tracemalloc
from collections import Counter, defaultdict
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner
from fix_fixtures import ClientFactory
from sqlalchemy import Engine, func, select
from venue_fixtures import shared_venue

from venue.app import Venue
from venue.domain.commands import BustTrade, CancelOrder, NewOrder
from venue.domain.events import Event
from venue.domain.reference import Instrument, Reference, SessionInfo
from venue.domain.values import OrdType, Side, TimeInForce, parse_price
from venue.kernel import Kernel
from venue.reporting import (
    EXPORTS,
    SCHEMAS,
    ExportError,
    ExportValidationError,
    day_range,
    export_cat_events,
    export_order_records,
    iso_us,
    parse_time,
    validate_export,
)
from venue.reporting.cli import export as export_cli
from venue.reporting.exports import money
from venue.reporting.spec import blocks, update_spec
from venue.reporting.surveillance import otr
from venue.reporting.synthetic import load
from venue.reporting.writer import RowWriter, render
from venue.store import SqlProjector, make_engine, migrate
from venue.store.models import order_events, trades
from venue.testing.resources import scratch_database

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "spec" / "exports.md"
DAY = "2024-05-01"
DAY_START, DAY_END = day_range(DAY)
ALL_TIME = (0, 2**62)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    migrate(db_url)
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


def rows_of(path: Path, fmt: str | None = None) -> list[dict[str, Any]]:
    """An export file read back as typed rows (ints as int, the rest as text, null None)."""
    fmt = fmt or ("csv" if path.suffix == ".csv" else "jsonl")
    if fmt == "jsonl":
        return [orjson.loads(line) for line in path.read_text().splitlines()]
    lines = list(csv.reader(io.StringIO(path.read_text())))
    schema = {tuple(s.columns): s for s in SCHEMAS.values()}[tuple(lines[0])]
    return [schema.from_csv(values) for values in lines[1:]]


def export(tmp_path: Path, name: str, engine: Engine, fmt: str, *args: Any, **kw: Any) -> Any:
    """Run one export to a file, check the file validates, return (summary, rows)."""
    path = tmp_path / f"{name}-{len(list(tmp_path.iterdir()))}.{fmt}"
    summary = EXPORTS[name](engine, path, *args, fmt=fmt, **kw)
    result = validate_export(path, name)
    assert result.ok, result.errors
    assert result.rows == summary.rows
    return summary, rows_of(path, fmt)


# -- formats ---------------------------------------------------------------------------------


def test_spec_exports_md_has_the_current_field_tables_of_every_format():
    text = SPEC.read_text()

    assert sorted(blocks(text)) == sorted(SCHEMAS)
    assert update_spec(text) == text, (
        "spec/exports.md is stale: run .venv/bin/python -m venue.reporting.spec spec/exports.md"
    )


def test_money_is_the_shortest_exact_decimal_and_times_are_iso_utc_microseconds():
    assert money(Decimal("190.01000000")) == "190.01"
    assert money(Decimal("190.00000000")) == "190"
    assert money(Decimal("0.00000001")) == "0.00000001"
    assert money(Decimal("0E-8")) == "0"
    assert money(Decimal("-2.50")) == "-2.5"
    assert iso_us(1_714_571_112_000_042) == "2024-05-01T13:45:12.000042Z"
    assert parse_time("2024-05-01T13:45:12.000042") == 1_714_571_112_000_042
    assert parse_time("2024-05-01T15:45:12.000042+02:00") == 1_714_571_112_000_042
    assert day_range("2024-05-01") == (1_714_521_600_000_000, 1_714_608_000_000_000)


def test_order_to_trade_ratio_is_rounded_half_up_to_four_decimals_and_null_without_trades():
    assert otr(280, 120) == "1.3333"
    assert otr(5, 3) == "0.6667"
    assert otr(3, 3) == "0"
    assert otr(0, 2) == "-1"
    assert otr(7, 0) is None


def test_a_row_that_does_not_match_its_schema_is_refused_before_anything_is_written():
    out = io.StringIO()
    writer = RowWriter(out, SCHEMAS["trades"], "csv")
    good = {
        "record": "venue_total",
        "trade_count": 1,
        "qty": 5,
        "notional": "950",
        "busted_count": 0,
    }
    writer.write(good)
    written = out.getvalue()

    for bad in (
        {**good, "qty": "5"},  # a string where an int belongs
        {**good, "notional": "950.10"},  # not the shortest decimal
        {**good, "notional": None},  # required
        {**good, "record": "nonsense"},  # unknown kind
        {**good, "firm": "FIRM1"},  # a field this kind does not carry
        {k: v for k, v in good.items() if k != "qty"},  # missing
    ):
        with pytest.raises(ExportValidationError):
            writer.write(bad)
    assert out.getvalue() == written


TRADE_ROW = {
    "record": "trade",
    "trade_id": 1,
    "seq": 3,
    "executed_ts": "2024-05-01T13:45:12.000042Z",
    "symbol": "AAPL",
    "price": "190",
    "qty": 5,
    "notional": "950",
    "aggressor_side": "buy",
    "buy_order_id": 2,
    "sell_order_id": 1,
    "buy_firm": "F2",
    "sell_firm": "F1",
    "buy_session": "C2",
    "sell_session": "C1",
    "buy_account": None,
    "sell_account": None,
    "status": "active",
    "busted_seq": None,
}
TOTAL_ROW = {
    "record": "venue_total",
    "trade_count": 1,
    "qty": 5,
    "notional": "950",
    "busted_count": 0,
}


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_validation_names_the_line_and_field_of_a_broken_row(tmp_path, fmt):
    good = tmp_path / f"good.{fmt}"
    good.write_text(render([TRADE_ROW, TOTAL_ROW], SCHEMAS["trades"], fmt))
    assert validate_export(good, "trades").ok

    broken = tmp_path / f"broken.{fmt}"
    broken.write_text(good.read_text().replace("AAPL", "", 1).replace("190", "1x0", 1))
    result = validate_export(broken, "trades")

    assert result.error_count == 2  # the row, and the total that no longer adds up
    line = 2 if fmt == "csv" else 1  # the CSV header is line 1
    assert result.errors[0].startswith(f"line {line}: ")
    assert (
        "symbol: empty but required" in result.errors[0]
        or "symbol: '' is not" in (result.errors[0])
    )
    assert "price: '1x0' is not a valid decimal" in result.errors[0]


def test_validation_catches_totals_that_do_not_add_up(tmp_path):
    path = tmp_path / "trades.jsonl"
    path.write_text(render([TRADE_ROW, {**TOTAL_ROW, "qty": 6}], SCHEMAS["trades"], "jsonl"))

    result = validate_export(path, "trades")

    assert result.error_count == 1
    assert result.errors[0].startswith("line 2: venue_total: [1, 6, ")
    assert "trades give [1, 5, " in result.errors[0]


def test_a_failed_export_leaves_no_file_under_the_final_name(tmp_path, sqlite_url):
    migrate(sqlite_url)
    engine = make_engine(sqlite_url)
    with engine.begin() as conn:  # a bust whose trade the store does not have
        conn.execute(
            order_events.insert(),
            {"seq": 1, "ts_us": DAY_START, "symbol": "AAPL", "event_type": "TradeBusted"},
        )
    target = tmp_path / "out" / "cat.jsonl"
    with pytest.raises(ExportError, match="busted_seq 1"):
        export_cat_events(engine, target, DAY_START, DAY_END)
    with pytest.raises(ValueError, match="empty period"):
        export_order_records(engine, target, DAY_END, DAY_START)
    engine.dispose()
    assert list(target.parent.iterdir()) == []


# -- a known day of trading through FIX ---------------------------------------------------------

CL = {"CLIENT1": "FIRM1", "CLIENT2": "FIRM2", "CLIENT3": "FIRM1"}
RTS24_SIDE = {"1": "BUYI", "2": "SELL"}
EXEC_TYPE_44 = {
    "0": "OrderAccepted",
    "F": "OrderFilled",
    "4": "OrderCanceled",
    "5": "OrderReplaced",
    "8": "OrderRejected",
    "H": "OrderTradeCanceled",
}
EXEC_TYPE_42 = {
    "0": "OrderAccepted",
    "1": "OrderFilled",
    "2": "OrderFilled",
    "4": "OrderCanceled",
    "5": "OrderReplaced",
    "8": "OrderRejected",
}


def fix_time(text: str) -> str:
    """TransactTime(60) "20240501-13:45:12.123456" as the exports write it."""
    return f"{text[0:4]}-{text[4:6]}-{text[6:8]}T{text[9:]}Z"


def at_fix_precision(export_ts: str, transact_time: str) -> str:
    """The export's microsecond time cut to TransactTime's precision (milliseconds on 4.2)."""
    digits = len(transact_time.partition(".")[2])
    head, _, frac = export_ts.removesuffix("Z").partition(".")
    return f"{head}.{frac[:digits]}Z"


class FixDay:
    """What happened, as the clients saw it."""

    def __init__(self, venue: Venue, clients: dict[str, Any]) -> None:
        self.venue = venue
        self.engine = venue.db
        self.clients = clients
        self.reports: list[tuple[str, dict[int, str]]] = []  # (session, ExecutionReport)
        self.cancel_rejects: list[tuple[str, dict[int, str]]] = []
        for session, client in clients.items():
            for msg in client.received:
                if msg.get(35) == "8":
                    self.reports.append((session, msg))
                elif msg.get(35) == "9":
                    self.cancel_rejects.append((session, msg))

    def order_id(self, session: str, cl_ord_id: str) -> int:
        """OrderID(37) of the order the client entered with this ClOrdID."""
        for s, msg in self.reports:
            if s == session and msg.get(11) == cl_ord_id:
                return int(msg[37])
        raise KeyError((session, cl_ord_id))

    def fills(self) -> list[tuple[str, dict[int, str]]]:
        return [(s, m) for s, m in self.reports if m.get(32) and m[150] in ("F", "1", "2")]

    def report(self, session: str, cl_ord_id: str, exec_type: str) -> dict[int, str]:
        (msg,) = [
            m
            for s, m in self.reports
            if s == session and m.get(11) == cl_ord_id and m[150] == exec_type
        ]
        return msg


def trade_a_day(venue: Venue, fix_client_factory: Any) -> FixDay:
    """CLIENT1 and CLIENT3 are FIRM1, CLIENT2 FIRM2 (CLIENT3 speaks FIX 4.2).

    Trades: T1 AAPL 60 @ 190 (b1 / s1), T2 AAPL 20 @ 190 (b1 after its replace / s2),
    T3 AAPL 40 @ 189 (w1 / c2, Account SHARED on both sides), T4 IBM 25 @ 180 (i2 / i1).
    Also: a replace, requested cancels (a1 right after FIRM1's buy fills: a spoofing
    candidate; m1r in MSFT), a self-trade-prevented match (c2 against b3: b3 canceled),
    a collar reject, a cancel reject of an unknown order, an IOC remainder, and at the end
    the operator busts T4 (IBM)."""
    c1 = fix_client_factory("CLIENT1")
    c2 = fix_client_factory("CLIENT2")
    c3 = fix_client_factory("CLIENT3", begin_string="FIX.4.2")
    c1.new_order("b1", "AAPL", "1", 100, price="190.00", Account="ACC1")
    c1.expect("8", ExecType="0")
    c1.new_order("a1", "AAPL", "2", 10, price="195.00")
    c1.expect("8", ExecType="0")
    c2.new_order("s1", "AAPL", "2", 60, price="190.00")
    c2.expect("8", ExecType="0")
    c2.expect("8", ExecType="F", OrdStatus="2")
    c1.expect("8", ExecType="F", OrdStatus="1")
    c1.replace("b1r", "b1", "AAPL", "1", 80, price="190.00")
    c1.expect("8", ExecType="5")
    c2.new_order("s2", "AAPL", "2", 50, price="189.50")
    c2.expect("8", ExecType="0")
    c2.expect("8", ExecType="F", OrdStatus="1", LastQty="20")
    c1.expect("8", ExecType="F", OrdStatus="2")
    c1.cancel("a1x", "a1", "AAPL", "2")
    c1.expect("8", ExecType="4")
    c1.new_order("b3", "AAPL", "1", 40, price="189.00")
    c1.expect("8", ExecType="0")
    c3.new_order("c2", "AAPL", "2", 40, price="189.00", Account="SHARED")
    c3.expect("8", ExecType="0")
    c1.expect("8", ExecType="4", ClOrdID="b3")  # self-trade prevention: resting canceled
    c2.new_order("w1", "AAPL", "1", 40, price="189.00", Account="SHARED")
    c2.expect("8", ExecType="0")
    c2.expect("8", ExecType="F", OrdStatus="2")
    c3.expect("8", ExecType="2")
    c2.new_order("r1", "AAPL", "1", 10, price="250.00")
    c2.expect("8", ExecType="8")
    c2.cancel("nx", "nope", "AAPL", "1")
    c2.expect("9")
    c2.new_order("m1", "MSFT", "1", 10, price="419.00")
    c2.expect("8", ExecType="0")
    c2.replace("m1r", "m1", "MSFT", "1", 10, price="419.50")
    c2.expect("8", ExecType="5")
    c2.cancel("m1x", "m1r", "MSFT", "1")
    c2.expect("8", ExecType="4")
    c1.new_order("i1", "IBM", "2", 25, price="180.00")
    c1.expect("8", ExecType="0")
    c2.new_order("i2", "IBM", "1", 25, price="180.00")
    c2.expect("8", ExecType="0")
    c2.expect("8", ExecType="F")
    c1.expect("8", ExecType="F")
    c2.new_order("t1", "TSLA", "1", 10, price="250.00", tif="3")
    c2.expect("8", ExecType="0")
    c2.expect("8", ExecType="4")
    venue.wait_until_projected()
    with venue.db.connect() as conn:  # the operator finds the trade in the store
        ibm_trade = conn.execute(select(trades.c.trade_id).where(trades.c.symbol == "IBM")).scalar()
    venue.execute(BustTrade("ops", ibm_trade, "wrong price"))
    c1.expect("8", ExecType="H")
    c2.expect("8", ExecType="H")
    venue.wait_until_projected()
    return FixDay(venue, {"CLIENT1": c1, "CLIENT2": c2, "CLIENT3": c3})


@pytest.fixture(
    scope="class",
    params=[pytest.param("sqlite"), pytest.param("postgres", marks=pytest.mark.postgres)],
)
def fix_day(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """trade_a_day on a venue of its own, on SQLite and on PostgreSQL in turn, for a class."""
    home = tmp_path_factory.mktemp(f"fix-day-{request.param}")
    with contextlib.ExitStack() as stack:
        url = f"sqlite:///{home / 'db' / 'venue.db'}"
        if request.param == "postgres":
            admin = request.getfixturevalue("pg_admin")  # fails (never skips) if PG is down
            url = stack.enter_context(scratch_database(admin))
        started = shared_venue(home, database_url=url)
        venue = next(started)
        clients = ClientFactory(venue.settings.port)
        try:
            yield trade_a_day(venue, clients)
        finally:
            clients.close_all()  # else the stop waits for them to answer its Logout
            next(started, None)


class TestOneTradingDay:
    """The known day, played once per database for the class (the exports only read it)."""

    @pytest.mark.parametrize("fmt", ["csv", "jsonl"])
    def test_order_records_match_every_report_the_clients_received_field_by_field(
        self, fix_day, tmp_path, fmt
    ):
        summary, rows = export(tmp_path, "order-records", fix_day.engine, fmt, *ALL_TIME)
        by_seq = {r["seq"]: r for r in rows}

        assert summary.rows == len(rows) == len(fix_day.reports) + len(fix_day.cancel_rejects)
        assert {int(m[17]) for _, m in fix_day.reports} == {
            r["seq"] for r in rows if r["event_type"] != "CancelRejected"
        }
        for session, m in fix_day.reports:
            r = by_seq[int(m[17])]
            exec_types = EXEC_TYPE_42 if m[8] == "FIX.4.2" else EXEC_TYPE_44
            assert r["event_type"] == exec_types[m[150]]
            assert (r["member_id"], r["session_id"], r["client_id"]) == (
                CL[session],
                session,
                m.get(1),
            )
            assert (r["order_id"], r["cl_ord_id"], r["orig_cl_ord_id"]) == (
                int(m[37]),
                m[11],
                m.get(41),
            )
            assert (r["symbol"], r["side"], r["limit_price"]) == (m[55], RTS24_SIDE[m[54]], m[44])
            assert (r["initial_qty"], r["traded_qty"], r["remaining_qty"]) == (
                int(m[38]),
                int(m[14]),
                int(m[151]),
            )
            assert r["ord_status"] == m[39]
            assert at_fix_precision(r["event_ts"], m[60]) == fix_time(m[60])
            assert r["validity"] == {"0": "DAVY", "3": "IOCV"}[m[59]]
            assert (r["last_px"], r["last_qty"]) == (m.get(31), int(m[32]) if 32 in m else None)
            assert r["text"] == m.get(58)
            assert r["exec_ref"] == (int(m[19]) if 19 in m else None)
            if m[150] == "H":
                assert (r["rts24_event"], by_seq[r["exec_ref"]]["trade_id"]) == (
                    "CHMO",
                    r["trade_id"],
                )
            if m[150] == "F":
                assert r["liquidity"] == {"1": "PASV", "2": "AGRE"}[m[851]]
                assert r["rts24_event"] == ("FILL" if m[39] == "2" else "PARF")
            assert r["priority_size"] == (int(m[151]) if m[39] in ("0", "1") else None)
        (reject,) = [r for r in rows if r["event_type"] == "CancelRejected"]
        (_, m) = fix_day.cancel_rejects[0]
        assert (
            reject["cl_ord_id"],
            reject["orig_cl_ord_id"],
            at_fix_precision(reject["event_ts"], m[60]),
        ) == (m[11], m[41], fix_time(m[60]))
        assert (reject["member_id"], reject["rejected_request"], reject["rts24_event"]) == (
            "FIRM2",
            "cancel",
            "REJE",
        )
        stp = by_seq[int(fix_day.report("CLIENT1", "b3", "4")[17])]
        assert (stp["rts24_event"], stp["cancel_reason"]) == ("CAMO", "self_trade")
        a1 = by_seq[int(fix_day.report("CLIENT1", "a1x", "4")[17])]
        assert (a1["rts24_event"], a1["cancel_reason"]) == ("CAME", "requested")
        replaced = by_seq[int(fix_day.report("CLIENT1", "b1r", "5")[17])]
        accepted = by_seq[int(fix_day.report("CLIENT1", "b1", "0")[17])]
        # a quantity decrease keeps time priority; a price change takes a new one
        assert replaced["priority_ts"] == accepted["priority_ts"] == accepted["event_ts"]
        m1r = by_seq[int(fix_day.report("CLIENT2", "m1r", "5")[17])]
        assert m1r["priority_ts"] == m1r["event_ts"]

    def test_order_records_reconcile_with_the_audit_trail(self, fix_day, tmp_path):
        summary, rows = export(tmp_path, "order-records", fix_day.engine, "csv", *ALL_TIME)

        with fix_day.engine.connect() as conn:
            audit = dict(
                conn.execute(
                    select(order_events.c.event_type, func.count()).group_by(
                        order_events.c.event_type
                    )
                ).all()
            )
        not_order_records = ("TradeExecuted", "TradeBusted", "OperatorActionApplied")
        assert Counter(r["event_type"] for r in rows) == {
            k: v for k, v in audit.items() if k not in not_order_records
        }
        assert audit["OrderTradeCanceled"] == 2
        assert summary.totals == {"order-records": len(rows)}
        assert [r["seq"] for r in rows] == sorted(r["seq"] for r in rows)

    def test_cat_events_match_the_reports_and_the_trades_table(self, fix_day, tmp_path):
        summary, rows = export(tmp_path, "cat-events", fix_day.engine, "jsonl", *ALL_TIME)
        by_id = {r["event_id"]: r for r in rows}

        assert (
            summary.counts
            == Counter(r["event_type"] for r in rows)
            == {
                "order_accepted": 11,
                "order_modified": 2,
                "order_canceled": 4,
                "order_trade": 4,
                "order_fill": 8,
                "trade_break": 1,
            }
        )
        for session, m in fix_day.fills():
            r = by_id[int(m[17])]
            assert r["event_type"] == "order_fill"
            assert (r["order_id"], r["member_id"], r["session_id"]) == (
                int(m[37]),
                CL[session],
                session,
            )
            assert (r["trade_price"], r["trade_qty"], r["cum_qty"], r["leaves_qty"]) == (
                m[31],
                int(m[32]),
                int(m[14]),
                int(m[151]),
            )
            assert r["side"] == {"1": "B", "2": "SL"}[m[54]]
            if 851 in m:
                assert r["liquidity"] == {"1": "added", "2": "removed"}[m[851]]
        with fix_day.engine.connect() as conn:
            table = {t.trade_id: t for t in conn.execute(select(trades))}
        cat_trades = [r for r in rows if r["event_type"] == "order_trade"]
        assert sorted(r["trade_id"] for r in cat_trades) == sorted(table)
        for r in cat_trades:
            t = table[r["trade_id"]]
            assert (r["trade_price"], r["trade_qty"]) == (money(t.price), t.qty)
            assert (r["buy_order_id"], r["sell_order_id"]) == (t.buy_order_id, t.sell_order_id)
            assert (r["buy_member_id"], r["sell_member_id"]) == (t.buy_firm, t.sell_firm)
            fills = [
                f for f in rows if f["event_type"] == "order_fill" and f["trade_id"] == t.trade_id
            ]
            assert sorted(f["order_id"] for f in fills) == sorted((t.buy_order_id, t.sell_order_id))
        t3 = next(r for r in cat_trades if r["buy_order_id"] == fix_day.order_id("CLIENT2", "w1"))
        assert (t3["buy_account"], t3["sell_account"], t3["aggressor_side"]) == (
            "SHARED",
            "SHARED",
            "B",
        )
        (brk,) = [r for r in rows if r["event_type"] == "trade_break"]
        bust = fix_day.report("CLIENT1", "i1", "H")
        ibm = table[brk["trade_id"]]
        assert (ibm.symbol, ibm.status, ibm.busted_seq) == ("IBM", "busted", brk["event_id"])
        assert (brk["event_ts"], brk["trade_qty"], brk["trade_price"]) == (
            fix_time(bust[60]),
            int(bust[32]),
            bust[31],
        )
        assert (brk["operator"], brk["text"]) == ("ops", bust[58])
        assert (brk["buy_member_id"], brk["sell_member_id"]) == ("FIRM2", "FIRM1")
        canceled = {r["cl_ord_id"]: r for r in rows if r["event_type"] == "order_canceled"}
        assert {
            k: (v["cancel_reason"], v["initiator"], v["cancel_qty"]) for k, v in canceled.items()
        } == {
            "a1x": ("requested", "member", 10),
            "b3": ("self_trade", "venue", 40),
            "m1x": ("requested", "member", 10),
            "t1": ("ioc_remainder", "venue", 10),
        }

    def test_trade_report_lists_every_fill_pair_and_its_totals_reconcile(self, fix_day, tmp_path):
        summary, rows = export(tmp_path, "trades", fix_day.engine, "csv", *ALL_TIME)

        listed = [r for r in rows if r["record"] == "trade"]
        by_order: dict[int, list[tuple[str, int]]] = defaultdict(list)
        for _session, m in fix_day.fills():
            by_order[int(m[37])].append((m[31], int(m[32])))
        for t in listed:  # each trade is a fill of its buy order and of its sell order
            assert (t["price"], t["qty"]) in by_order[t["buy_order_id"]]
            assert (t["price"], t["qty"]) in by_order[t["sell_order_id"]]
        assert len(listed) * 2 == len(fix_day.fills())
        totals = {
            (r["record"], r.get("symbol") or r.get("firm")): r
            for r in rows
            if r["record"] != "trade"
        }
        assert totals[("symbol_total", "AAPL")] == {
            "record": "symbol_total",
            "symbol": "AAPL",
            "trade_count": 3,
            "qty": 120,
            "notional": "22760",
            "busted_count": 0,
        }
        assert totals[("symbol_total", "IBM")] == {  # T4 was busted
            "record": "symbol_total",
            "symbol": "IBM",
            "trade_count": 0,
            "qty": 0,
            "notional": "0",
            "busted_count": 1,
        }
        assert [t["status"] for t in listed if t["symbol"] == "IBM"] == ["busted"]
        assert totals[("firm_total", "FIRM1")] == {
            "record": "firm_total",
            "firm": "FIRM1",
            "trade_count": 3,
            "buy_qty": 80,
            "buy_notional": "15200",
            "sell_qty": 40,
            "sell_notional": "7560",
            "busted_count": 1,
        }
        assert totals[("firm_total", "FIRM2")]["buy_qty"] == 40
        assert summary.totals == {
            "trade_count": 3,
            "qty": 120,
            "notional": "22760",
            "busted_count": 1,
        }
        with fix_day.engine.connect() as conn:
            count, qty = conn.execute(select(func.count(), func.sum(trades.c.qty))).one()
            active = conn.execute(
                select(func.count(), func.sum(trades.c.qty)).where(trades.c.status == "active")
            ).one()
            fills = conn.execute(
                select(func.count(), func.sum(order_events.c.last_qty)).where(
                    order_events.c.event_type == "OrderFilled"
                )
            ).one()
            busts = conn.execute(
                select(func.count(), func.sum(order_events.c.last_qty)).where(
                    order_events.c.event_type == "OrderTradeCanceled"
                )
            ).one()
        assert (count, qty) == (4, 145)
        assert tuple(active) == (3, 120)
        assert tuple(fills) == (2 * count, 2 * qty)  # every trade is two fills ...
        assert tuple(busts) == (2, 2 * 25)  # ... and a bust cancels both

    def test_surveillance_finds_the_shared_account_trade_the_ratios_and_the_cancel_after_a_fill(
        self, fix_day, tmp_path
    ):
        summary, rows = export(
            tmp_path, "surveillance", fix_day.engine, "jsonl", *ALL_TIME, window_ms=60_000
        )

        (wash,) = [r for r in rows if r["record"] == "wash_trade"]
        assert (wash["basis"], wash["buy_account"], wash["sell_account"]) == (
            "same_account",
            "SHARED",
            "SHARED",
        )
        assert (wash["buy_order_id"], wash["sell_order_id"]) == (
            fix_day.order_id("CLIENT2", "w1"),
            fix_day.order_id("CLIENT3", "c2"),
        )
        assert (wash["buy_cl_ord_id"], wash["sell_cl_ord_id"], wash["price"], wash["qty"]) == (
            "w1",
            "c2",
            "189",
            40,
        )

        ratios = {(r["firm"], r["symbol"]): r for r in rows if r["record"] == "otr"}
        keys = (
            "new_orders",
            "rejected_orders",
            "modifications",
            "cancellations",
            "rejected_requests",
            "orders",
            "order_volume",
            "trades",
            "traded_volume",
            "otr_count",
            "otr_volume",
        )
        expected = {
            ("FIRM1", "AAPL"): (4, 0, 1, 1, 0, 6, 280, 3, 120, "1", "1.3333"),
            ("FIRM1", "IBM"): (1, 0, 0, 0, 0, 1, 25, 0, 0, None, None),  # T4 busted
            ("FIRM2", "AAPL"): (3, 1, 0, 0, 0, 4, 160, 3, 120, "0.3333", "0.3333"),
            ("FIRM2", "IBM"): (1, 0, 0, 0, 0, 1, 25, 0, 0, None, None),
            ("FIRM2", "MSFT"): (1, 0, 1, 1, 0, 3, 30, 0, 0, None, None),
            ("FIRM2", "TSLA"): (1, 0, 0, 0, 0, 1, 10, 0, 0, None, None),
        }
        assert {k: tuple(r[f] for f in keys) for k, r in ratios.items()} == expected
        assert list(ratios) == sorted(ratios)

        (spoof,) = [r for r in rows if r["record"] == "spoof_candidate"]
        cancel = fix_day.report("CLIENT1", "a1x", "4")
        fill = fix_day.report("CLIENT1", "b1r", "F")
        assert (spoof["firm"], spoof["symbol"], spoof["side"], spoof["order_id"]) == (
            "FIRM1",
            "AAPL",
            "sell",
            int(cancel[37]),
        )
        assert (spoof["cancel_seq"], spoof["cancel_ts"]) == (int(cancel[17]), fix_time(cancel[60]))
        assert (spoof["fill_seq"], spoof["fill_ts"], spoof["fill_order_id"]) == (
            int(fill[17]),
            fix_time(fill[60]),
            int(fill[37]),
        )
        assert (spoof["fill_px"], spoof["fill_qty"], spoof["canceled_qty"]) == ("190", 20, 10)
        assert (spoof["fills_in_window"], spoof["fill_qty_in_window"]) == (2, 80)
        assert spoof["delay_us"] == parse_time(spoof["cancel_ts"]) - parse_time(spoof["fill_ts"])
        assert summary.totals == {
            "wash_trade": 1,
            "otr": 6,
            "spoof_candidate": 1,
            "window_ms": 60_000,
        }

    def test_firm_symbol_and_time_filters_keep_exactly_the_matching_rows(self, fix_day, tmp_path):
        engine = fix_day.engine
        _, everything = export(tmp_path, "order-records", engine, "jsonl", *ALL_TIME)

        _, firm2 = export(tmp_path, "order-records", engine, "jsonl", *ALL_TIME, firm="FIRM2")
        assert firm2 == [r for r in everything if r["member_id"] == "FIRM2"]
        assert len(firm2) == sum(1 for s, _ in fix_day.reports if s == "CLIENT2") + 1

        _, ibm = export(tmp_path, "order-records", engine, "jsonl", *ALL_TIME, symbol="IBM")
        assert ibm == [r for r in everything if r["symbol"] == "IBM"] and len(ibm) == 6

        middle = everything[len(everything) // 2]
        start = parse_time(middle["event_ts"])
        end = parse_time(everything[-3]["event_ts"])
        _, window = export(tmp_path, "order-records", engine, "jsonl", start, end)
        assert window == [r for r in everything if start <= parse_time(r["event_ts"]) < end]
        assert window and window[0]["event_ts"] == middle["event_ts"]

        _, cat_firm1 = export(tmp_path, "cat-events", engine, "jsonl", *ALL_TIME, firm="FIRM1")
        firm1_trades = [r for r in cat_firm1 if r["event_type"] == "order_trade"]
        assert len(firm1_trades) == 4  # FIRM1 is on one side of every trade of the day
        assert {r["member_id"] for r in cat_firm1 if "member_id" in r} == {"FIRM1"}
        assert [r["symbol"] for r in cat_firm1 if r["event_type"] == "trade_break"] == ["IBM"]
        _, cat_aapl = export(tmp_path, "cat-events", engine, "jsonl", *ALL_TIME, symbol="AAPL")
        assert "trade_break" not in {r["event_type"] for r in cat_aapl}

        summary, ibm_trades = export(tmp_path, "trades", engine, "csv", *ALL_TIME, symbol="IBM")
        assert [r["record"] for r in ibm_trades] == [
            "trade",
            "symbol_total",
            "firm_total",
            "firm_total",
            "venue_total",
        ]
        assert summary.totals == {"trade_count": 0, "qty": 0, "notional": "0", "busted_count": 1}

        _, firm2_trades = export(tmp_path, "trades", engine, "jsonl", *ALL_TIME, firm="FIRM2")
        assert [r["firm"] for r in firm2_trades if r["record"] == "firm_total"] == ["FIRM2"]

        _, surv = export(
            tmp_path, "surveillance", engine, "csv", *ALL_TIME, firm="FIRM2", window_ms=60_000
        )
        assert {r["record"] for r in surv} == {"wash_trade", "otr"}  # FIRM2 canceled after no fill
        assert {r["firm"] for r in surv if r["record"] == "otr"} == {"FIRM2"}

        nothing_before = export(tmp_path, "order-records", engine, "csv", 0, DAY_START)[1]
        assert nothing_before == []


# -- the spoofing window, to the microsecond (kernel with chosen timestamps) ----------------------

CENT = 1_000_000
T = DAY_START + 10 * 3600 * 1_000_000  # 10:00 UTC: FIRM1's buy fill


class KernelDay:
    """The real kernel, events projected with the real projector, times chosen."""

    def __init__(self) -> None:
        self.kernel = Kernel(
            Reference(
                instruments={s: Instrument(s, CENT) for s in ("AAPL", "MSFT")},
                sessions={
                    "C1": SessionInfo("C1", "FIRM1"),
                    "C2": SessionInfo("C2", "FIRM2"),
                    "C3": SessionInfo("C3", "FIRM1"),
                },
            )
        )
        self.events: list[Event] = []

    def order(
        self, ts: int, session: str, cl: str, side: Side, qty: int, price: str, symbol: str = "AAPL"
    ) -> list[Event]:
        command = NewOrder(
            session, cl, symbol, side, OrdType.LIMIT, TimeInForce.DAY, qty, parse_price(price)
        )
        out = self.kernel.handle(command, ts)
        self.events += out
        return out

    def cancel(self, ts: int, session: str, cl: str, side: Side, symbol: str = "AAPL") -> int:
        out = self.kernel.handle(CancelOrder(session, f"{cl}x", cl, symbol, side), ts)
        self.events += out
        return out[0].seq


def test_spoofing_window_includes_its_bound_and_firm_side_and_symbol_must_match(engine, tmp_path):
    day = KernelDay()
    buy, sell = Side.BUY, Side.SELL
    for i, price in enumerate(("191", "192", "193")):
        day.order(T - 100 + i, "C1", f"a{i + 1}", sell, 10, price)  # FIRM1 asks
    day.order(T - 50, "C3", "bb", buy, 10, "180")  # FIRM1, same side as its buy fill
    day.order(T - 40, "C1", "ms", sell, 10, "50", "MSFT")  # FIRM1, another symbol
    day.order(T - 30, "C2", "q1", buy, 10, "185")  # FIRM2 bid
    day.order(T - 20, "C1", "b1", buy, 100, "190")
    fill = day.order(T, "C2", "s1", sell, 50, "190")  # FIRM1 buys, FIRM2 sells at T
    day.cancel(T + 10, "C3", "bb", buy)  # same side as the fill
    day.cancel(T + 20, "C1", "ms", sell, "MSFT")  # another symbol
    q1 = day.cancel(T + 500_000, "C2", "q1", buy)  # FIRM2 cancels a buy after its sell fill
    a1 = day.cancel(T + 999_000, "C1", "a1", sell)  # 999 ms after: a candidate
    a2 = day.cancel(T + 1_000_000, "C1", "a2", sell)  # exactly the window: a candidate
    day.cancel(T + 1_000_001, "C1", "a3", sell)  # 1 µs too late
    SqlProjector(engine).apply(day.events)
    firm1_fill = next(
        e for e in fill if type(e).__name__ == "OrderFilled" and e.order.firm == "FIRM1"
    )

    _, rows = export(tmp_path, "surveillance", engine, "jsonl", DAY_START, DAY_END)
    spoof = [r for r in rows if r["record"] == "spoof_candidate"]

    assert [(r["cancel_seq"], r["firm"], r["delay_us"]) for r in spoof] == [
        (q1, "FIRM2", 500_000),
        (a1, "FIRM1", 999_000),
        (a2, "FIRM1", 1_000_000),
    ]
    assert spoof[1]["fill_seq"] == firm1_fill.seq
    assert spoof[1]["entered_ts"] == iso_us(T - 100)

    # A period that starts after the fill still sees it: the window reaches back before it.
    _, later = export(tmp_path, "surveillance", engine, "jsonl", T + 999_500, DAY_END)
    assert [r["cancel_seq"] for r in later if r["record"] == "spoof_candidate"] == [a2]
    _, narrow = export(tmp_path, "surveillance", engine, "jsonl", DAY_START, DAY_END, window_ms=600)
    assert [r["cancel_seq"] for r in narrow if r["record"] == "spoof_candidate"] == [q1]


# -- a synthetic day: every number recomputed from the raw tables ---------------------------------


def raw(engine: Engine, table: Any) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(table)))


@pytest.fixture
def synthetic(engine: Engine) -> Engine:
    stats = load(engine, 5_000, DAY_START + 9 * 3600 * 1_000_000, seed=3)
    assert stats.busted >= 1 and stats.trades > 100  # the seed gives busts to check
    return engine


def test_synthetic_day_every_export_reconciles_with_the_tables(synthetic, tmp_path):
    engine = synthetic
    events = raw(engine, order_events)
    table = raw(engine, trades)
    by_type = Counter(e.event_type for e in events)

    records, _ = export(tmp_path, "order-records", engine, "csv", DAY_START, DAY_END)
    assert records.rows == sum(
        n
        for k, n in by_type.items()
        if k not in ("TradeExecuted", "TradeBusted", "OperatorActionApplied", "OrderStatusReported")
    )

    cat, cat_rows = export(tmp_path, "cat-events", engine, "jsonl", DAY_START, DAY_END)
    assert cat.counts == {
        "order_accepted": by_type["OrderAccepted"],
        "order_modified": by_type["OrderReplaced"],
        "order_canceled": by_type["OrderCanceled"] + by_type["OrderExpired"],
        "order_trade": len(table),
        "order_fill": by_type["OrderFilled"],
        "trade_break": sum(1 for t in table if t.status == "busted"),
    }
    busted = {t.busted_seq: t for t in table if t.status == "busted"}
    for r in cat_rows:
        if r["event_type"] == "trade_break":
            assert r["trade_id"] == busted[r["event_id"]].trade_id

    report, rows = export(tmp_path, "trades", engine, "csv", DAY_START, DAY_END)
    active = [t for t in table if t.status == "active"]
    assert report.totals == {
        "trade_count": len(active),
        "qty": sum(t.qty for t in active),
        "notional": money(sum(Decimal(t.notional) for t in active)),
        "busted_count": len(busted),
    }
    for firm in {t.buy_firm for t in table}:
        (total,) = [r for r in rows if r["record"] == "firm_total" and r["firm"] == firm]
        assert total["buy_qty"] == sum(t.qty for t in active if t.buy_firm == firm)
        assert total["sell_qty"] == sum(t.qty for t in active if t.sell_firm == firm)

    _, surv = export(tmp_path, "surveillance", engine, "jsonl", DAY_START, DAY_END)
    wash = {
        t.trade_id
        for t in table
        if t.buy_firm == t.sell_firm or (t.buy_account and t.buy_account == t.sell_account)
    }
    assert {r["trade_id"] for r in surv if r["record"] == "wash_trade"} == wash
    assert any(r["basis"] == "same_firm" for r in surv if r["record"] == "wash_trade")
    assert {
        (r["firm"], r["symbol"]): (r["orders"], r["order_volume"], r["trades"], r["traded_volume"])
        for r in surv
        if r["record"] == "otr"
    } == expected_otr(events, table)
    assert [
        (r["cancel_seq"], r["fill_seq"], r["fills_in_window"])
        for r in surv
        if r["record"] == "spoof_candidate"
    ] == expected_spoofs(events, 1000)


def expected_otr(events: list[Any], table: list[Any]) -> dict[tuple[str, str], tuple[int, ...]]:
    """RTS 9 counts straight from the definition in spec/exports.md."""
    out: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for e in events:
        if not e.firm or not e.symbol:
            continue
        member_cancel = e.event_type == "OrderCanceled" and e.cancel_reason in (1, 6)
        if e.event_type in ("OrderAccepted", "OrderRejected", "OrderReplaced"):
            out[(e.firm, e.symbol)][0] += 1
            out[(e.firm, e.symbol)][1] += e.qty
        elif member_cancel:
            out[(e.firm, e.symbol)][0] += 1
            out[(e.firm, e.symbol)][1] += e.qty - e.cum_qty
        elif e.event_type == "CancelRejected":
            out[(e.firm, e.symbol)][0] += 1
    for t in table:
        if t.status == "active":
            for firm in (t.buy_firm, t.sell_firm):
                out[(firm, t.symbol)][2] += 1
                out[(firm, t.symbol)][3] += t.qty
    return {k: tuple(v) for k, v in out.items()}


def expected_spoofs(events: list[Any], window_ms: int) -> list[tuple[int, int, int]]:
    """Straight from the definition: for each member cancel, the earlier opposite-side fills
    of the firm in the symbol within the window."""
    fills: dict[tuple[str, str, str], list[Any]] = defaultdict(list)
    for e in events:
        if e.event_type == "OrderFilled":
            fills[(e.firm, e.symbol, e.side)].append(e)
    out = []
    for c in events:
        if c.event_type != "OrderCanceled" or c.cancel_reason not in (1, 6):
            continue
        opposite = {"1": "2", "2": "1"}[c.side]
        near = [
            f
            for f in fills[(c.firm, c.symbol, opposite)]
            if f.seq < c.seq and c.ts_us - window_ms * 1000 <= f.ts_us <= c.ts_us
        ]
        if near:
            out.append((c.seq, max(f.seq for f in near), len(near)))
    return out


def test_exports_stream_with_memory_bounded_by_the_batch_not_the_rows(engine, tmp_path):
    load(engine, 20_000, DAY_START + 9 * 3600 * 1_000_000, seed=5)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(order_events)).scalar() >= 20_000
    peaks = {}
    # (tracemalloc slows Python down ~6x: the two event streams are traced, the order
    # records (one row per event) and the surveillance's fill/cancel scan; the other
    # exports read through the same stream())
    for name in ("order-records", "surveillance"):
        function = EXPORTS[name]
        path = tmp_path / f"{name}.out"
        tracemalloc.start()
        try:
            summary = function(engine, path, DAY_START, DAY_END, batch=2_000)
            peaks[name] = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert summary.rows > 1_000
    # Holding 20k rows would take tens of MB; a streamed export holds one fetched batch
    # and the 1 MB write buffer, however many rows there are.
    for name, peak in peaks.items():
        assert peak < 8 * 2**20, f"{name}: peak {peak / 2**20:.1f} MiB"


# -- the command line ----------------------------------------------------------------------------


def test_command_line_writes_validates_and_rejects_a_broken_file(synthetic, db_url, tmp_path):
    runner = CliRunner()
    out = tmp_path / "records.jsonl"

    result = runner.invoke(
        export_cli,
        [
            "order-records",
            "--db",
            db_url,
            "--date",
            DAY,
            "--firm",
            "FIRM1",
            "--out",
            str(out),
            "--check",
        ],
    )

    assert result.exit_code == 0, result.output
    rows = rows_of(out)
    assert rows and {r["member_id"] for r in rows} == {"FIRM1"}
    assert "order-records:" in result.stderr and "validated" in result.stderr
    assert (
        runner.invoke(export_cli, ["validate", str(out), "--export", "order-records"]).exit_code
        == 0
    )

    lines = out.read_text().splitlines()
    lines[1] = json.dumps({**json.loads(lines[1]), "side": "SIDEWAYS"})
    out.write_text("\n".join(lines) + "\n")
    bad = runner.invoke(export_cli, ["validate", str(out), "--export", "order-records"])
    assert bad.exit_code == 1
    assert "line 2: side: 'SIDEWAYS' is not a valid enum" in bad.stderr

    usage = runner.invoke(export_cli, ["trades", "--db", db_url, "--out", str(tmp_path / "t.csv")])
    assert usage.exit_code == 2 and "--date" in usage.output


def test_all_exports_run_on_an_empty_store(engine, tmp_path):
    for name in EXPORTS:
        summary, rows = export(tmp_path, name, engine, "csv", DAY_START, DAY_END)
        assert rows == (
            []
            if name != "trades"
            else [
                {
                    "record": "venue_total",
                    "trade_count": 0,
                    "qty": 0,
                    "notional": "0",
                    "busted_count": 0,
                }
            ]
        )
