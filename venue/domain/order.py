"""The live order and its state machine.

An order changes status only through `Order.transition`, which consults one table; an
illegal transition raises IllegalTransition (a bug in the venue, never a client's fault).
"""

from __future__ import annotations

from venue.domain.events import OrderSnapshot
from venue.domain.ids import OrderId
from venue.domain.reference import StpMode
from venue.domain.values import OrdStatus, OrdType, Side, TimeInForce


class IllegalTransition(Exception):
    """The venue tried to move an order to a status its current status does not allow."""


_S = OrdStatus
TRANSITIONS: dict[OrdStatus, frozenset[OrdStatus]] = {
    _S.NEW: frozenset({_S.NEW, _S.PARTIALLY_FILLED, _S.FILLED, _S.CANCELED, _S.EXPIRED}),
    # Back to NEW only when a bust takes away every fill of a live order.
    _S.PARTIALLY_FILLED: frozenset(
        {_S.NEW, _S.PARTIALLY_FILLED, _S.FILLED, _S.CANCELED, _S.EXPIRED}
    ),
    _S.FILLED: frozenset(),
    _S.CANCELED: frozenset(),
    _S.REJECTED: frozenset(),
    _S.EXPIRED: frozenset(),
}


class Order:
    """A live order. Mutable, owned by the kernel thread; events carry snapshots of it."""

    __slots__ = (
        "order_id",
        "session",
        "firm",
        "account",
        "cl_ord_id",
        "orig_cl_ord_id",
        "symbol",
        "side",
        "ord_type",
        "tif",
        "price",
        "qty",
        "cum_qty",
        "cum_notional",
        "status",
        "priority_ts",
        "stp",
        # Order terms beyond the plain limit order (None / False: not used). Snapshots of
        # older versions lack them: venue.kernel fills in these defaults.
        "stop_px",
        "triggered",
        "post_only",
        "expire_ts",
        "expire_date",
        "min_qty",
        "max_floor",
        "display",
    )

    def __init__(
        self,
        order_id: OrderId,
        session: str,
        firm: str,
        account: str,
        cl_ord_id: str,
        symbol: str,
        side: Side,
        ord_type: OrdType,
        tif: TimeInForce,
        price: int | None,
        qty: int,
        priority_ts: int,
        stp: StpMode = StpMode.CANCEL_RESTING,
        stop_px: int | None = None,
        post_only: bool = False,
        expire_ts: int | None = None,
        expire_date: int | None = None,
        min_qty: int | None = None,
        max_floor: int | None = None,
    ) -> None:
        self.order_id = order_id
        self.session = session
        self.firm = firm
        self.account = account
        self.cl_ord_id = cl_ord_id
        self.orig_cl_ord_id = ""
        self.symbol = symbol
        self.side = side
        self.ord_type = ord_type
        self.tif = tif
        self.price = price
        self.qty = qty
        self.cum_qty = 0
        self.cum_notional = 0
        self.status = OrdStatus.NEW
        self.priority_ts = priority_ts
        self.stp = stp
        self.stop_px = stop_px
        self.triggered = False  # a stop whose trigger has printed: now in the book or done
        self.post_only = post_only  # ExecInst(18)=6: never takes liquidity
        self.expire_ts = expire_ts  # GTD by ExpireTime(126): µs UTC
        self.expire_date = expire_date  # GTD by ExpireDate(432): YYYYMMDD, through its day end
        self.min_qty = min_qty  # MinQty(110), IOC only: fill at least this at once or nothing
        self.max_floor = max_floor  # iceberg: MaxFloor(111), the peak shown at a time
        # iceberg: what the book shows of it now (its current peak)
        self.display = 0 if max_floor is None else min(max_floor, qty)

    @property
    def visible(self) -> int:
        """The quantity the book shows (and gives time priority): the peak of an iceberg,
        the whole leaves quantity of any other order."""
        return self.leaves_qty if self.max_floor is None else min(self.display, self.leaves_qty)

    @property
    def is_parked(self) -> bool:
        """A stop waiting for its trigger: live, not in the book, not in market data."""
        return self.ord_type.is_stop and not self.triggered and not self.status.is_done

    @property
    def is_market(self) -> bool:
        """Trades without a limit: a market order, or a stop once triggered."""
        return self.ord_type is OrdType.MARKET or self.ord_type is OrdType.STOP

    @property
    def leaves_qty(self) -> int:
        return 0 if self.status.is_done else self.qty - self.cum_qty

    def transition(self, status: OrdStatus) -> None:
        if status not in TRANSITIONS[self.status]:
            raise IllegalTransition(
                f"order {self.order_id}: {self.status.name} -> {status.name} is not allowed"
            )
        self.status = status

    def fill(self, qty: int, price: int) -> None:
        """Record an execution of qty at price. O(1)."""
        if qty <= 0 or qty > self.qty - self.cum_qty:
            raise IllegalTransition(f"order {self.order_id}: fill of {qty} exceeds leaves")
        self.cum_qty += qty
        self.cum_notional += qty * price
        self.transition(
            OrdStatus.FILLED if self.cum_qty == self.qty else OrdStatus.PARTIALLY_FILLED
        )

    def unfill(self, qty: int, price: int) -> None:
        """Take back an execution (trade bust). The order does not regain the quantity: its
        OrderQty shrinks with CumQty, so LeavesQty stays as it was. O(1)."""
        if qty <= 0 or qty > self.cum_qty:
            raise IllegalTransition(f"order {self.order_id}: bust of {qty} exceeds CumQty")
        self.cum_qty -= qty
        self.cum_notional -= qty * price
        self.qty -= qty
        if self.status is OrdStatus.PARTIALLY_FILLED and self.cum_qty == 0:
            self.transition(OrdStatus.NEW)

    def snapshot(self) -> OrderSnapshot:
        return OrderSnapshot(
            self.order_id,
            self.session,
            self.firm,
            self.account,
            self.cl_ord_id,
            self.orig_cl_ord_id,
            self.symbol,
            self.side,
            self.ord_type,
            self.tif,
            self.price,
            self.qty,
            self.cum_qty,
            self.leaves_qty,
            self.cum_notional,
            self.status,
            self.priority_ts,
            self.stop_px,
            self.triggered,
            self.post_only,
            self.expire_ts,
            self.expire_date,
            self.min_qty,
            self.max_floor,
            self.visible,
        )

    def __repr__(self) -> str:
        return (
            f"Order({self.order_id} {self.side.name} {self.qty}@{self.price} "
            f"cum={self.cum_qty} {self.status.name})"
        )
