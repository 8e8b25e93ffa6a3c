"""Reference data the kernel needs: instruments and sessions. Built from settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from venue.domain.values import format_price


class Role(StrEnum):
    """What a session may do. Only ORDER_ENTRY sends orders; DROP_COPY receives copies of
    its firms' reports; MARKET_DATA receives market data (venue.marketdata,
    spec/market-data.md) and is kept out of order entry and drop copy."""

    ORDER_ENTRY = "order_entry"
    DROP_COPY = "drop_copy"
    MARKET_DATA = "market_data"


class StpMode(StrEnum):
    """Self-trade prevention: what happens when two orders of one firm would match.

    The values are what a client sends in tag 7928 (SelfTradePrevention) to override its
    firm's default on one order.
    """

    CANCEL_RESTING = "R"
    CANCEL_AGGRESSOR = "A"
    CANCEL_BOTH = "B"
    DECREMENT = "D"


@dataclass(frozen=True, slots=True)
class Instrument:
    """Trading rules and pre-trade limits of one instrument. Prices in price units."""

    symbol: str
    tick: int
    lot: int = 1
    reference_price: int | None = None  # collar centre until the first trade
    collar_bps: int | None = None  # allowed distance from the reference, in basis points
    max_order_qty: int | None = None
    max_order_notional: int | None = None  # price units x quantity
    restricted: bool = False
    # Post-only (ExecInst 6) that would take liquidity: rejected (False) or slid to one
    # tick behind the opposite best (True).
    post_only_slide: bool = False
    # Phases and auctions (spec/auctions.md). Bands in basis points; None: no band.
    dynamic_band_bps: int | None = None  # around the last trade
    static_band_bps: int | None = None  # around the last auction price, else the reference
    interruption_secs: int = 120  # volatility interruption: call length before its auction
    resume_call_secs: int = 0  # resume after a halt: a call this long, then an auction
    extension_bps: int | None = None  # a call's end: indicative this far from the reference
    extension_secs: int = 0  # ... extends the call once by this long
    # UTC seconds of the day at which the scheduled phases begin; () = continuous all day.
    # ((secs, phase value), ...) in time order; "auction" uncrosses the current call.
    schedule: tuple[tuple[int, str], ...] = ()

    def __post_init__(self) -> None:
        if self.tick <= 0 or self.lot <= 0:
            raise ValueError(f"{self.symbol}: tick and lot must be positive")

    @property
    def tick_text(self) -> str:
        return format_price(self.tick)


@dataclass(frozen=True, slots=True)
class Firm:
    firm: str
    credit_limit: int | None = None  # open plus executed notional per day, price units x qty
    stp_mode: StpMode = StpMode.CANCEL_RESTING


@dataclass(frozen=True, slots=True)
class SessionInfo:
    session: str  # the counterparty's CompID
    firm: str
    role: Role = Role.ORDER_ENTRY
    max_orders_per_second: int | None = None
    cancel_on_disconnect: bool = True  # Day orders
    cancel_gtc_on_disconnect: bool = False
    username: str | None = None
    password_hash: str | None = None  # see venue.fix.auth; never a clear password
    copy_firms: tuple[str, ...] = ()  # drop copy: the firms it sees ("*" = all)
    max_md_subscriptions: int | None = None  # market data: symbol subscriptions at once

    def sees(self, firm: str) -> bool:
        """Whether this drop-copy session is entitled to the firm's reports."""
        return "*" in self.copy_firms or firm in self.copy_firms


@dataclass(frozen=True, slots=True)
class Reference:
    instruments: dict[str, Instrument]
    sessions: dict[str, SessionInfo]
    firms: dict[str, Firm] = field(default_factory=dict)

    def firm(self, name: str) -> Firm:
        return self.firms.get(name) or Firm(name)
