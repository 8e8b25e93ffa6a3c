"""Validate an export file: every line against its schema, plus the rules across lines.

    result = validate_export("records.csv", "order-records")
    if not result.ok: print(*result.errors, sep="\\n")

Rules across lines, per format:
- order-records, cat-events: sequence numbers strictly increase.
- trades: each symbol_total, firm_total and the venue_total equal the sums of the trade
  rows above them (active trades; busted ones in busted_count); exactly one venue_total,
  last.
- surveillance: sections in order (wash_trade, otr, spoof_candidate); on each otr row
  orders is the sum of its counts and both ratios are what the counts give; on each
  spoof_candidate the delay is within the window and the fill precedes the cancel.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from decimal import Decimal
from typing import IO, Any

from venue.reporting.formats import SCHEMAS
from venue.reporting.surveillance import otr
from venue.reporting.writer import ValidationResult, validate_file

Checks = tuple[Callable[[dict[str, Any]], list[str]], Callable[[], list[str]]]


def _increasing(key: str) -> Checks:
    last = [0]

    def row(r: dict[str, Any]) -> list[str]:
        value = r[key]
        problems = [] if value > last[0] else [f"{key} {value} does not follow {last[0]}"]
        last[0] = max(last[0], value)
        return problems

    return row, list


class _TradeTotals:
    """Recomputes the trade report's totals from its trade rows while reading."""

    def __init__(self) -> None:
        self.symbols: dict[str, list[Any]] = {}
        self.firms: dict[str, list[Any]] = {}
        self.venue: list[Any] = [0, 0, Decimal(0), 0]
        self.firm_filter: set[str] = set()
        self.seen_venue_total = False
        self.trade_firms: list[set[str]] = []

    def row(self, r: dict[str, Any]) -> list[str]:
        kind = r["record"]
        if self.seen_venue_total:
            return ["a row after the venue_total"]
        if kind == "trade":
            active = r["status"] == "active"
            qty, notional = r["qty"], Decimal(r["notional"])
            for totals in (self.symbols.setdefault(r["symbol"], [0, 0, Decimal(0), 0]), self.venue):
                if active:
                    totals[0] += 1
                    totals[1] += qty
                    totals[2] += notional
                else:
                    totals[3] += 1
            for name in {r["buy_firm"], r["sell_firm"]}:
                f = self.firms.setdefault(name, [0, 0, Decimal(0), 0, Decimal(0), 0])
                if not active:
                    f[5] += 1
                    continue
                f[0] += 1
                if name == r["buy_firm"]:
                    f[1] += qty
                    f[2] += notional
                if name == r["sell_firm"]:
                    f[3] += qty
                    f[4] += notional
            return []
        if kind == "symbol_total":
            t = self.symbols.get(r["symbol"], [0, 0, Decimal(0), 0])
            got = [r["trade_count"], r["qty"], Decimal(r["notional"]), r["busted_count"]]
            return [] if got == t else [f"symbol_total {r['symbol']}: {got} but trades give {t}"]
        if kind == "firm_total":
            t = self.firms.get(r["firm"], [0, 0, Decimal(0), 0, Decimal(0), 0])
            got = [
                r["trade_count"],
                r["buy_qty"],
                Decimal(r["buy_notional"]),
                r["sell_qty"],
                Decimal(r["sell_notional"]),
                r["busted_count"],
            ]
            return [] if got == t else [f"firm_total {r['firm']}: {got} but trades give {t}"]
        self.seen_venue_total = True
        got = [r["trade_count"], r["qty"], Decimal(r["notional"]), r["busted_count"]]
        return [] if got == self.venue else [f"venue_total: {got} but trades give {self.venue}"]

    def end(self) -> list[str]:
        return [] if self.seen_venue_total else ["no venue_total row at the end"]


def _trade_checks() -> Checks:
    totals = _TradeTotals()
    return totals.row, totals.end


_SECTIONS = {"wash_trade": 0, "otr": 1, "spoof_candidate": 2}


def _surveillance_checks() -> Checks:
    section = [0]

    def row(r: dict[str, Any]) -> list[str]:
        kind = r["record"]
        problems = []
        if _SECTIONS[kind] < section[0]:
            problems.append(f"a {kind} row after a later section")
        section[0] = max(section[0], _SECTIONS[kind])
        if kind == "otr":
            parts = (
                "new_orders",
                "rejected_orders",
                "modifications",
                "cancellations",
                "rejected_requests",
            )
            if r["orders"] != sum(r[p] for p in parts):
                problems.append(f"orders {r['orders']} is not the sum of {', '.join(parts)}")
            if r["otr_count"] != otr(r["orders"], r["trades"]):
                problems.append(f"otr_count {r['otr_count']} is not orders / trades - 1")
            if r["otr_volume"] != otr(r["order_volume"], r["traded_volume"]):
                problems.append(f"otr_volume {r['otr_volume']} is not volume ratio - 1")
        elif kind == "spoof_candidate":
            if not 0 <= r["delay_us"] <= r["window_ms"] * 1000:
                problems.append(f"delay_us {r['delay_us']} outside the window")
            if r["fill_seq"] >= r["cancel_seq"]:
                problems.append("the fill does not precede the cancel")
        return problems

    return row, list


FILE_CHECKS: dict[str, Callable[[], Checks]] = {
    "order-records": lambda: _increasing("seq"),
    "cat-events": lambda: _increasing("event_id"),
    "trades": _trade_checks,
    "surveillance": _surveillance_checks,
}


def validate_export(
    source: str | os.PathLike[str] | IO[str],
    export: str,
    fmt: str | None = None,
    max_errors: int = 20,
) -> ValidationResult:
    """Check an export file line by line against its schema and the rules across lines."""
    schema = SCHEMAS.get(export)
    if schema is None:
        raise ValueError(f"unknown export {export!r}: one of {', '.join(SCHEMAS)}")
    return validate_file(source, schema, fmt, max_errors, FILE_CHECKS[export])
