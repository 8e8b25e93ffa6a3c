"""The call-auction uncross: one price for all executions, then who trades with whom.

Pure: no I/O, no clock, no state. The rules, with their sources, are in spec/auctions.md
("The uncross"); in short:

Candidate prices are the limit prices in the book, plus the reference price when the book
holds market orders on both sides (market orders then trade with each other at it when
nothing better exists; with market orders only and no reference there is no price).
Among the candidates:
1. the highest executable volume, min(buy qty at or above, sell qty at or below), market
   orders counting at every price;
2. then the lowest surplus |buy qty - sell qty|;
3. then market pressure: a buy surplus at every remaining candidate takes the highest, a
   sell surplus at every one the lowest;
4. else (no surplus, or surpluses on both sides) the reference price if it lies within the
   remaining candidates, else the remaining candidate closest to it; without a reference the
   remaining candidate closest to their midpoint, the higher of two equally close.
Nothing executable (no cross, one side empty, market orders only and no reference): no price.

Allocation at the price: each side in priority order, market orders first (by time), then
limit orders by price (best first), then by time; the key breaks equal priorities. Orders
take their whole quantity until the volume is used up; only the last order taken on each
side may be partly filled. Buys and sells are then paired in that order, so each order gets
one allocation and at most one fill per counterpart.

Cost: O(n log n) for n orders (sorting); `indicative` is O(n + m log m) for m price levels.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from itertools import accumulate, repeat
from typing import NamedTuple

from venue.domain.values import Side


@dataclass(frozen=True, slots=True)
class AuctionOrder:
    """An order as the auction sees it."""

    key: int  # the order's id
    side: Side  # BUY or SELL
    price: int | None  # limit price in price units; None = market order
    qty: int  # the quantity it brings to the auction (leaves, hidden part included)
    priority: int  # time priority, lower goes first


@dataclass(frozen=True, slots=True)
class Indicative:
    """The auction price and what it executes; during a call, the indicative figures."""

    price: int | None  # None when nothing can execute
    volume: int  # executable volume at price
    surplus: int  # unmatched quantity at price (>= 0)
    surplus_side: Side | None  # side holding the surplus, None when surplus is 0


NO_PRICE = Indicative(None, 0, 0, None)


class Fill(NamedTuple):
    """One execution of the uncross, at Indicative.price."""

    buy: int  # the buy order's key
    sell: int  # the sell order's key
    qty: int


class AuctionError(ValueError):
    """The caller passed an order the auction cannot take (a bug in the caller)."""


class _Book:
    """The orders split by side and type, as sortable tuples; built once per call. O(n)."""

    __slots__ = ("buys", "sells", "market_buys", "market_sells", "buy_levels", "sell_levels")

    def __init__(self, orders: Iterable[AuctionOrder]) -> None:
        # Limit orders as (signed price, priority, key, qty): -price for buys, so that an
        # ascending sort is priority order on both sides. Market orders as (priority, key, qty).
        buys: list[tuple[int, int, int, int]] = []
        sells: list[tuple[int, int, int, int]] = []
        market_buys: list[tuple[int, int, int]] = []
        market_sells: list[tuple[int, int, int]] = []
        buy_levels: dict[int, int] = {}  # price -> total qty of the limit orders
        sell_levels: dict[int, int] = {}
        keys: set[int] = set()
        buy, sell = Side.BUY, Side.SELL
        for o in orders:
            key, side, price, qty = o.key, o.side, o.price, o.qty
            if qty <= 0:
                raise AuctionError(f"order {key}: qty {qty} is not positive")
            if key in keys:
                raise AuctionError(f"order {key} appears twice")
            keys.add(key)
            if side is buy:
                if price is None:
                    market_buys.append((o.priority, key, qty))
                else:
                    buys.append((-price, o.priority, key, qty))
                    buy_levels[price] = buy_levels.get(price, 0) + qty
            elif side is sell:
                if price is None:
                    market_sells.append((o.priority, key, qty))
                else:
                    sells.append((price, o.priority, key, qty))
                    sell_levels[price] = sell_levels.get(price, 0) + qty
            else:
                raise AuctionError(f"order {key}: side {side!r} does not trade")
        self.buys = buys
        self.sells = sells
        self.market_buys = market_buys
        self.market_sells = market_sells
        self.buy_levels = buy_levels
        self.sell_levels = sell_levels


def _choose(book: _Book, reference: int | None) -> Indicative:
    """The uncross price by the four rules. O(n + m log m)."""
    market_buy = sum(o[2] for o in book.market_buys)
    market_sell = sum(o[2] for o in book.market_sells)
    prices = set(book.buy_levels)
    prices.update(book.sell_levels)
    if market_buy and market_sell and reference is not None:
        prices.add(reference)
    if not prices:
        return NO_PRICE
    candidates = sorted(prices)
    # Cumulative curves: sell qty at or below each candidate, buy qty at or above it
    # (accumulate and map keep the per-level work in C).
    sell_at = list(
        accumulate(map(book.sell_levels.get, candidates, repeat(0)), initial=market_sell)
    )
    del sell_at[0]
    buy_at = list(
        accumulate(map(book.buy_levels.get, reversed(candidates), repeat(0)), initial=market_buy)
    )
    del buy_at[0]
    buy_at.reverse()

    # 1. highest volume, 2. lowest surplus.
    volumes = list(map(min, buy_at, sell_at))
    best_volume = max(volumes)
    if best_volume == 0:
        return NO_PRICE
    at_best = [i for i, v in enumerate(volumes) if v == best_volume]
    surpluses = [abs(buy_at[i] - sell_at[i]) for i in at_best]
    best_surplus = min(surpluses)
    tied = [i for i, x in zip(at_best, surpluses, strict=True) if x == best_surplus]

    # 3. market pressure; 4. the reference, or the middle of the tied range.
    if best_surplus and all(buy_at[i] > sell_at[i] for i in tied):
        pick = tied[-1]
    elif best_surplus and all(buy_at[i] < sell_at[i] for i in tied):
        pick = tied[0]
    else:
        low = candidates[tied[0]]
        high = candidates[tied[-1]]
        if reference is not None and low <= reference <= high:
            return _at(book, reference, market_buy, market_sell)
        if reference is not None:
            pick = tied[0] if reference < low else tied[-1]
        else:
            twice_mid = low + high
            pick = min(tied, key=lambda i: (abs(2 * candidates[i] - twice_mid), -i))
    b = buy_at[pick]
    s = sell_at[pick]
    return _indicative(candidates[pick], b, s)


def _at(book: _Book, price: int, market_buy: int, market_sell: int) -> Indicative:
    """The figures at any price (used for a reference between two candidates). O(m)."""
    b = market_buy + sum(q for p, q in book.buy_levels.items() if p >= price)
    s = market_sell + sum(q for p, q in book.sell_levels.items() if p <= price)
    return _indicative(price, b, s)


def _indicative(price: int, buy: int, sell: int) -> Indicative:
    if buy > sell:
        return Indicative(price, sell, buy - sell, Side.BUY)
    if sell > buy:
        return Indicative(price, buy, sell - buy, Side.SELL)
    return Indicative(price, buy, 0, None)


def indicative(orders: Iterable[AuctionOrder], reference: int | None) -> Indicative:
    """The price, volume and surplus an uncross would have now. O(n + m log m)."""
    return _choose(_Book(orders), reference)


def _take(
    market: list[tuple[int, int, int]], limits: list[tuple[int, int, int, int]], volume: int
) -> list[tuple[int, int]]:
    """(key, qty) in priority order until volume is used up; the last one may be partial.
    O(k log k) for k eligible orders."""
    out: list[tuple[int, int]] = []
    left = volume
    for key, qty in [(o[1], o[2]) for o in sorted(market)] + [(o[2], o[3]) for o in sorted(limits)]:
        if qty >= left:
            out.append((key, left))
            return out
        out.append((key, qty))
        left -= qty
    raise AssertionError(f"auction allocation short by {left}")  # a bug here, never input


def uncross(orders: Iterable[AuctionOrder], reference: int | None) -> tuple[Indicative, list[Fill]]:
    """Run the auction: the price (as `indicative`) and the fills, all at that price, in
    priority order of the buy side, then of the sell side. O(n log n)."""
    book = _Book(orders)
    result = _choose(book, reference)
    price = result.price
    if price is None:
        return result, []
    volume = result.volume
    buys = _take(book.market_buys, [o for o in book.buys if -o[0] >= price], volume)
    sells = _take(book.market_sells, [o for o in book.sells if o[0] <= price], volume)
    fills: list[Fill] = []
    i = j = 0
    buy_key, buy_left = buys[0]
    sell_key, sell_left = sells[0]
    while True:
        qty = buy_left if buy_left < sell_left else sell_left
        fills.append(Fill(buy_key, sell_key, qty))
        buy_left -= qty
        sell_left -= qty
        if not buy_left:
            i += 1
            if i == len(buys):
                break
            buy_key, buy_left = buys[i]
        if not sell_left:
            j += 1
            if j == len(sells):
                break
            sell_key, sell_left = sells[j]
    return result, fills


def allocations(fills: Iterable[Fill]) -> dict[int, int]:
    """Each order's one allocation from the auction: key -> total quantity over its fills."""
    out: dict[int, int] = {}
    for buy, sell, qty in fills:
        out[buy] = out.get(buy, 0) + qty
        out[sell] = out.get(sell, 0) + qty
    return out
