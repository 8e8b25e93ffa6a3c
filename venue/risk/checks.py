"""Pre-trade checks: guard clauses that return (code, text) or None. Pure, no state.

Each text says what was wrong and what was allowed, e.g.
"price 231.2 outside collar 171-209 (reference 190 +/-10%)".
"""

from __future__ import annotations

from collections import deque
from decimal import Decimal

from venue.domain.codes import RejectCode
from venue.domain.reference import Firm, Instrument
from venue.domain.values import PRICE_DECIMALS, format_price

Problem = tuple[RejectCode, str]

ONE_SECOND_US = 1_000_000


def collar_band(instrument: Instrument, reference: int) -> tuple[int, int]:
    """Lowest and highest accepted price, rounded inward to the tick."""
    assert instrument.collar_bps is not None
    width = reference * instrument.collar_bps // 10_000
    tick = instrument.tick
    low = -(-(reference - width) // tick) * tick
    high = (reference + width) // tick * tick
    return low, high


def check_collar(
    instrument: Instrument, reference: int | None, price: int | None
) -> Problem | None:
    """Limit prices must lie within the collar around the reference price."""
    if price is None or reference is None or instrument.collar_bps is None:
        return None
    low, high = collar_band(instrument, reference)
    if low <= price <= high:
        return None
    return RejectCode.PRICE_OUTSIDE_COLLAR, (
        f"price {format_price(price)} outside collar {format_price(low)}-{format_price(high)} "
        f"(reference {format_price(reference)} +/-{instrument.collar_bps / 100:g}%)"
    )


def check_instrument_limits(instrument: Instrument, qty: int, notional: int) -> Problem | None:
    """Maximum order quantity and notional (notional in price units x quantity)."""
    if instrument.restricted:
        return RejectCode.RESTRICTED, f"{instrument.symbol} is restricted: no new orders accepted"
    if instrument.max_order_qty is not None and qty > instrument.max_order_qty:
        return RejectCode.EXCEEDS_MAX_QTY, (
            f"OrderQty {qty} exceeds the maximum {instrument.max_order_qty} for {instrument.symbol}"
        )
    limit = instrument.max_order_notional
    if limit is not None and notional > limit:
        return RejectCode.EXCEEDS_MAX_NOTIONAL, (
            f"order notional {format_notional(notional)} exceeds the maximum "
            f"{format_notional(limit)} for {instrument.symbol}"
        )
    return None


def check_credit(firm: Firm, exposure: int, notional: int) -> Problem | None:
    """Open plus executed notional of the firm today, plus this order, within its limit."""
    if firm.credit_limit is None or exposure + notional <= firm.credit_limit:
        return None
    return RejectCode.EXCEEDS_CREDIT_LIMIT, (
        f"credit limit of {firm.firm} exceeded: used {format_notional(exposure)} + order "
        f"{format_notional(notional)} > limit {format_notional(firm.credit_limit)}"
    )


def check_throttle(recent: deque[int], ts: int, limit: int | None) -> Problem | None:
    """At most `limit` order messages in any one-second window. Records ts when accepted.

    `recent` holds the timestamps of the session's accepted messages; O(1) amortised.
    """
    if limit is None:
        return None
    while recent and recent[0] <= ts - ONE_SECOND_US:
        recent.popleft()
    if len(recent) >= limit:
        return RejectCode.THROTTLED, f"throttle: more than {limit} order messages per second"
    recent.append(ts)
    return None


def format_notional(value: int) -> str:
    """Notional (price units x qty) as currency text with 2 decimals."""
    return f"{Decimal(value).scaleb(-PRICE_DECIMALS):,.2f}"
