"""Operator changes to limits: parse a (scope, field, value) into new reference data. Pure."""

from __future__ import annotations

import dataclasses
from decimal import Decimal, InvalidOperation
from typing import Any

from venue.domain.operator import Refusal
from venue.domain.reference import Firm, Instrument, SessionInfo, StpMode
from venue.domain.values import PRICE_SCALE, price_from_decimal


def _price(text: str) -> int:
    return price_from_decimal(Decimal(text))


def _notional(text: str) -> int:
    return int(Decimal(text) * PRICE_SCALE)


def _bool(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on", "y"):
        return True
    if text.lower() in ("0", "false", "no", "off", "n"):
        return False
    raise ValueError(f"{text!r} is not a yes/no value")


def _percent_to_bps(text: str) -> int:
    return int(Decimal(text) * 100)


# scope -> field -> parser of the operator's text (None clears the limit where allowed)
FIELDS: dict[str, dict[str, Any]] = {
    "instrument": {
        "reference_price": _price,
        "collar_pct": _percent_to_bps,
        "max_order_qty": int,
        "max_order_notional": _notional,
        "restricted": _bool,
        # phases and auctions (spec/auctions.md)
        "dynamic_band_pct": _percent_to_bps,
        "static_band_pct": _percent_to_bps,
        "interruption_secs": int,
        "resume_call_secs": int,
        "extension_pct": _percent_to_bps,
        "extension_secs": int,
    },
    "firm": {"credit_limit": _notional, "stp_mode": StpMode},
    "session": {
        "max_orders_per_second": int,
        "cancel_on_disconnect": _bool,
        "cancel_gtc_on_disconnect": _bool,
    },
}
_ATTR = {
    "collar_pct": "collar_bps", "dynamic_band_pct": "dynamic_band_bps",
    "static_band_pct": "static_band_bps", "extension_pct": "extension_bps",
}  # fmt: skip
_REQUIRED = {
    "restricted", "stp_mode", "cancel_on_disconnect", "cancel_gtc_on_disconnect",
    "interruption_secs", "resume_call_secs", "extension_secs",
}  # fmt: skip


def changed(
    current: Instrument | Firm | SessionInfo, scope: str, field: str, value: str | None
) -> Instrument | Firm | SessionInfo | Refusal:
    """A copy of `current` with one limit changed, or a Refusal with a clear text."""
    parsers = FIELDS.get(scope, {})
    if field not in parsers:
        allowed = ", ".join(parsers) or "none"
        return Refusal(f"unknown {scope} limit {field!r} (allowed: {allowed})")
    if value is None:
        if field in _REQUIRED:
            return Refusal(f"{field} needs a value")
        parsed = None
    else:
        try:  # the parsers of the operator's text raise these, and only for the text
            parsed = parsers[field](value)
        except (ValueError, InvalidOperation) as exc:
            return Refusal(f"bad value {value!r} for {field}: {exc}")
        if isinstance(parsed, int) and not isinstance(parsed, bool) and parsed < 0:
            return Refusal(f"{field} must not be negative")
    return dataclasses.replace(current, **{_ATTR.get(field, field): parsed})  # type: ignore[arg-type,type-var]
