"""Regulatory and surveillance exports built from the SQL store (spec/exports.md).

    from venue.reporting import day_range, export_trades, validate_export

    start, end = day_range("2024-05-01")                     # a UTC calendar day, in µs
    summary = export_trades(engine, "trades.csv", start, end, firm="FIRM1")
    assert validate_export("trades.csv", "trades").ok

Every export streams (memory flat however many rows), checks each row against its
documented schema before writing it, and runs the same on SQLite and PostgreSQL:

    export_order_records   MiFID II RTS 24 style order records, one row per order event
    export_cat_events      US CAT style exchange events
    export_trades          the daily trade report with totals per symbol and firm
    export_surveillance    wash trades, order-to-trade ratios, spoofing candidates

Signature shared by all four: (engine, out, start_us, end_us, *, firm=None, symbol=None,
fmt="csv"|"jsonl", progress=None, batch=5000) -> ExportSummary; export_surveillance adds
window_ms=1000. `out` is a path (written atomically), "-" (stdout) or a text stream;
`progress(rows)` is called every 10,000 rows and at the end.
"""

from venue.reporting.exports import (
    ExportError,
    ExportSummary,
    day_range,
    export_cat_events,
    export_order_records,
    export_trades,
    iso_us,
    parse_time,
)
from venue.reporting.formats import SCHEMAS
from venue.reporting.schema import ExportValidationError, Field, Schema
from venue.reporting.surveillance import DEFAULT_WINDOW_MS, export_surveillance
from venue.reporting.validate import validate_export
from venue.reporting.writer import FORMATS, ValidationResult, format_for

EXPORTS = {
    "order-records": export_order_records,
    "cat-events": export_cat_events,
    "trades": export_trades,
    "surveillance": export_surveillance,
}
DEFAULT_FORMATS = {
    "order-records": "csv",
    "cat-events": "jsonl",
    "trades": "csv",
    "surveillance": "jsonl",
}

__all__ = [
    "DEFAULT_FORMATS",
    "DEFAULT_WINDOW_MS",
    "EXPORTS",
    "FORMATS",
    "SCHEMAS",
    "ExportError",
    "ExportSummary",
    "ExportValidationError",
    "Field",
    "Schema",
    "ValidationResult",
    "day_range",
    "export_cat_events",
    "export_order_records",
    "export_surveillance",
    "export_trades",
    "format_for",
    "iso_us",
    "parse_time",
    "validate_export",
]
