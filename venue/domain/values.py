"""Plain values of the venue. Prices and quantities are integers inside the core.

A price is an integer count of PRICE_SCALE-ths of the quote currency (1e-8), so any tick
down to 0.00000001 is exact and tick checks are integer modulo. A quantity is an integer
count of units (shares, contracts, coins in their smallest traded unit).
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

PRICE_SCALE = 100_000_000
PRICE_DECIMALS = 8


class Side(StrEnum):
    """FIX Side(54). The venue trades BUY and SELL only; the other values exist so that the
    reject of an order that carries one can echo it and the audit trail can record it."""

    BUY = "1"
    SELL = "2"
    BUY_MINUS = "3"
    SELL_PLUS = "4"
    SELL_SHORT = "5"
    SELL_SHORT_EXEMPT = "6"
    UNDISCLOSED = "7"
    CROSS = "8"
    CROSS_SHORT = "9"
    CROSS_SHORT_EXEMPT = "A"
    AS_DEFINED = "B"
    OPPOSITE = "C"
    SUBSCRIBE = "D"
    REDEEM = "E"
    LEND = "F"
    BORROW = "G"

    @property
    def opposite(self) -> Side:
        """The side a BUY or SELL order trades against."""
        if self is Side.BUY:
            return Side.SELL
        if self is Side.SELL:
            return Side.BUY
        raise ValueError(f"Side {self.value} does not trade on this venue")


class OrdType(StrEnum):
    """FIX OrdType(40) values the venue supports."""

    MARKET = "1"
    LIMIT = "2"
    STOP = "3"  # parked until a trade at or through StopPx(99), then a market order
    STOP_LIMIT = "4"  # parked the same way, then a limit order at Price(44)
    MARKET_TO_LIMIT = "K"  # a limit at the best opposite price on arrival (FIX 4.4+)

    @property
    def is_stop(self) -> bool:
        return self is OrdType.STOP or self is OrdType.STOP_LIMIT


class TimeInForce(StrEnum):
    """FIX TimeInForce(59) values the venue supports."""

    DAY = "0"
    GTC = "1"
    IOC = "3"
    FOK = "4"
    AT_OPEN = "2"  # at the opening: the opening auction only (entered in pre-open)
    GTD = "6"  # with ExpireTime(126) or ExpireDate(432)
    AT_CLOSE = "7"  # at the close (FIX 4.4 on): the closing auction only (entered in pre-close)


class Phase(StrEnum):
    """An instrument's trading phase (spec/auctions.md). Calls collect orders without
    matching; an auction (the uncross) ends each call and is an instant, not a phase.

    Without a schedule an instrument is CONTINUOUS all day, as before phases existed."""

    CLOSED = "closed"  # new orders rejected (OrdRejReason 2); resting GTC/GTD stay
    PRE_OPEN = "pre-open"  # opening call: ends with the opening auction, then CONTINUOUS
    CONTINUOUS = "continuous"
    PRE_CLOSE = "pre-close"  # closing call: ends with the closing auction, then CLOSED
    CALL = "call"  # intraday call (volatility interruption, resume after a halt)

    @property
    def is_call(self) -> bool:
        return self in (Phase.PRE_OPEN, Phase.PRE_CLOSE, Phase.CALL)

    @property
    def matches(self) -> bool:
        """Whether orders match on arrival (continuous trading only)."""
        return self is Phase.CONTINUOUS


class OrdStatus(StrEnum):
    """FIX OrdStatus(39)."""

    NEW = "0"
    PARTIALLY_FILLED = "1"
    FILLED = "2"
    CANCELED = "4"
    REJECTED = "8"
    EXPIRED = "C"

    @property
    def is_done(self) -> bool:
        return self in _DONE


_DONE = frozenset({OrdStatus.FILLED, OrdStatus.CANCELED, OrdStatus.REJECTED, OrdStatus.EXPIRED})


def utc_date(us: int) -> int:
    """Microseconds since the epoch -> the UTC date as the integer YYYYMMDD. Pure
    arithmetic (the core keeps no clock): H. Hinnant's civil_from_days."""
    z = us // 86_400_000_000 + 719_468
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    year = yoe + era * 400 + (month <= 2)
    return year * 10_000 + month * 100 + day


def price_from_decimal(value: Decimal) -> int:
    """Exact conversion; raises ValueError if the value has more than 8 decimals."""
    scaled = value * PRICE_SCALE
    if scaled != scaled.to_integral_value():
        raise ValueError(f"price {value} has more than {PRICE_DECIMALS} decimals")
    return int(scaled)


def parse_price(text: str) -> int:
    """FIX price text -> integer price units. Raises ValueError on anything not a decimal."""
    return price_from_decimal(Decimal(text))


def price_to_decimal(units: int) -> Decimal:
    """Exact Decimal of a price (or a notional in price units); never exponent notation."""
    return Decimal(units).scaleb(-PRICE_DECIMALS)


def format_price(units: int) -> str:
    """Integer price units -> shortest FIX price text ("190.01", "190")."""
    sign = "-" if units < 0 else ""
    whole, frac = divmod(abs(units), PRICE_SCALE)
    if not frac:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{frac:08d}".rstrip("0")


def format_avg_price(notional: int, qty: int) -> str:
    """Average price of qty units costing `notional` price-units in total, 8 decimals at most."""
    if qty == 0:
        return "0"
    return format_price((notional + qty // 2) // qty)
