"""Builders for driving the kernel directly in unit tests."""

from __future__ import annotations

from venue.domain.commands import CancelOrder, NewOrder, QueryOrder, ReplaceOrder
from venue.domain.reference import Instrument, Reference, SessionInfo
from venue.domain.values import PRICE_SCALE, OrdType, Side, TimeInForce, parse_price
from venue.kernel import Kernel

SYMBOLS = ("AAPL", "MSFT")


def reference(lot: int = 1) -> Reference:
    return Reference(
        {s: Instrument(s, PRICE_SCALE // 100, lot) for s in SYMBOLS},
        {
            "C1": SessionInfo("C1", "FIRM1"),
            "C2": SessionInfo("C2", "FIRM2"),
            "C3": SessionInfo("C3", "FIRM1"),
            "C4": SessionInfo("C4", "FIRM3"),
        },
    )


def kernel(lot: int = 1) -> Kernel:
    return Kernel(reference(lot))


def px(text: str) -> int:
    return parse_price(text)


def new(
    cl: str,
    side: str,
    qty: int,
    price: str | None = "100.00",
    session: str = "C1",
    symbol: str = "AAPL",
    ord_type: OrdType | None = None,
    tif: TimeInForce = TimeInForce.DAY,
) -> NewOrder:
    if ord_type is None:
        ord_type = OrdType.MARKET if price is None else OrdType.LIMIT
    return NewOrder(
        session,
        cl,
        symbol,
        Side.BUY if side == "B" else Side.SELL,
        ord_type,
        tif,
        qty,
        None if price is None else px(price),
    )


def cancel(cl: str, orig: str, side: str, session: str = "C1", symbol: str = "AAPL") -> CancelOrder:
    return CancelOrder(session, cl, orig, symbol, Side.BUY if side == "B" else Side.SELL)


def replace(
    cl: str,
    orig: str,
    side: str,
    qty: int,
    price: str | None,
    session: str = "C1",
    symbol: str = "AAPL",
    tif: TimeInForce = TimeInForce.DAY,
    ord_type: OrdType = OrdType.LIMIT,
) -> ReplaceOrder:
    return ReplaceOrder(
        session,
        cl,
        orig,
        symbol,
        Side.BUY if side == "B" else Side.SELL,
        ord_type,
        tif,
        qty,
        None if price is None else px(price),
    )


def query(cl: str, side: str, session: str = "C1", symbol: str = "AAPL") -> QueryOrder:
    return QueryOrder(session, cl, symbol, Side.BUY if side == "B" else Side.SELL)


def names(events: list) -> list[str]:
    return [type(e).__name__ for e in events]
