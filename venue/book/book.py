"""Limit order book for one symbol: price levels in sorted maps, FIFO inside a level.

Bids are keyed by negated price so that, on both sides, the first key is the best level.
A level keeps its orders in a dict (insertion ordered), which gives FIFO iteration and O(1)
removal from anywhere in the queue. A level's `qty` is what it shows: an iceberg counts
with its current peak (`Order.visible`), never with its hidden quantity.
"""

from __future__ import annotations

from collections.abc import Iterator

from sortedcontainers import SortedDict

from venue.domain.ids import OrderId
from venue.domain.order import Order
from venue.domain.values import Side


class Level:
    __slots__ = ("price", "orders", "qty")

    def __init__(self, price: int) -> None:
        self.price = price
        self.orders: dict[OrderId, Order] = {}
        self.qty = 0


class OrderBook:
    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self._sides: dict[Side, SortedDict] = {Side.BUY: SortedDict(), Side.SELL: SortedDict()}
        self.orders: dict[OrderId, Order] = {}

    @staticmethod
    def _key(side: Side, price: int) -> int:
        return -price if side is Side.BUY else price

    def add(self, order: Order) -> None:
        """Append a resting order at the back of its level. O(log L) for a new level, else O(1)."""
        assert order.price is not None, "market orders never rest"
        levels = self._sides[order.side]
        key = self._key(order.side, order.price)
        level = levels.get(key)
        if level is None:
            level = levels[key] = Level(order.price)
        level.orders[order.order_id] = order
        level.qty += order.visible
        self.orders[order.order_id] = order

    def remove(self, order: Order, visible_before: int | None = None) -> None:
        """Take an order out of the book. O(1), plus O(log L) if its level empties.

        visible_before is the quantity the level counted for the order when the caller has
        already changed the order (default: what it shows now).
        """
        levels = self._sides[order.side]
        key = self._key(order.side, order.price)  # type: ignore[arg-type]
        level = levels[key]
        del level.orders[order.order_id]
        level.qty -= order.visible if visible_before is None else visible_before
        if not level.orders:
            del levels[key]
        del self.orders[order.order_id]

    def reduce(self, order: Order, by: int) -> None:
        """The level's quantity shrinks by `by` for an order that keeps its place. O(1)."""
        levels = self._sides[order.side]
        levels[self._key(order.side, order.price)].qty -= by  # type: ignore[arg-type]

    def requeue(self, order: Order, visible_before: int) -> None:
        """An iceberg shows a new peak: it goes to the back of its level. O(1)."""
        level = self._sides[order.side][self._key(order.side, order.price)]  # type: ignore[arg-type]
        del level.orders[order.order_id]
        level.orders[order.order_id] = order
        level.qty += order.visible - visible_before

    def best(self, side: Side) -> Level | None:
        """Best level on a side. O(1) amortised (SortedDict keeps a sorted key list)."""
        levels = self._sides[side]
        if not levels:
            return None
        return levels[levels.keys()[0]]

    def levels(self, side: Side) -> Iterator[Level]:
        """Levels from best to worst."""
        return iter(self._sides[side].values())

    def depth(self, side: Side) -> list[tuple[int, int]]:
        return [(lv.price, lv.qty) for lv in self.levels(side)]

    def check_invariants(self, crossed_ok: bool = False) -> None:
        """Assert every structural rule of the book (crossed_ok: in a call). O(N); tests."""
        seen: set[OrderId] = set()
        for side, levels in self._sides.items():
            for key, level in levels.items():
                assert key == self._key(side, level.price), "level under the wrong key"
                assert level.orders, f"empty level {level.price} left in the book"
                total = 0
                last_ts = -1
                for oid, order in level.orders.items():
                    assert oid == order.order_id
                    assert order.side is side and order.price == level.price
                    assert not order.status.is_done, f"done order {oid} in the book"
                    assert order.leaves_qty > 0 and order.visible > 0
                    assert order.max_floor is None or order.visible <= order.max_floor
                    assert order.priority_ts >= last_ts, f"FIFO broken at {level.price}"
                    last_ts = order.priority_ts
                    assert oid not in seen, f"order {oid} in two levels"
                    seen.add(oid)
                    assert oid in self.orders and self.orders[oid] is order
                    total += order.visible
                assert total == level.qty, f"level {level.price} total {level.qty} != {total}"
        assert seen == set(self.orders), "id map and levels disagree"
        bid, ask = self.best(Side.BUY), self.best(Side.SELL)
        if bid is not None and ask is not None and not crossed_ok:
            assert bid.price < ask.price, f"book crossed: {bid.price} >= {ask.price}"
