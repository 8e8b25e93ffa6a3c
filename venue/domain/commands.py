"""Commands: what a session or the operator asks the kernel to do. Imperative, immutable.

`session` is the counterparty's CompID as configured (e.g. "CLIENT1"). Prices are integer
price units (see values.py), quantities integer units; None means the field was absent.
"""

from __future__ import annotations

from dataclasses import dataclass

from venue.domain.codes import RejectCode
from venue.domain.ids import OrderId, TradeId
from venue.domain.reference import StpMode
from venue.domain.values import OrdType, Side, TimeInForce


@dataclass(frozen=True, slots=True)
class NewOrder:
    session: str
    cl_ord_id: str
    symbol: str
    side: Side
    ord_type: OrdType
    tif: TimeInForce
    qty: int
    price: int | None = None
    account: str = ""
    stp: StpMode | None = None  # None: the firm's default
    stop_px: int | None = None  # StopPx(99)
    post_only: bool = False  # ExecInst(18)=6
    expire_ts: int | None = None  # ExpireTime(126), µs UTC
    expire_date: int | None = None  # ExpireDate(432), YYYYMMDD
    min_qty: int | None = None  # MinQty(110)
    max_floor: int | None = None  # MaxFloor(111): iceberg peak
    poss_resend: bool = False  # PossResend(97)=Y: perhaps sent before (see Kernel._new_order)


@dataclass(frozen=True, slots=True)
class CancelOrder:
    session: str
    cl_ord_id: str
    orig_cl_ord_id: str
    symbol: str
    side: Side
    order_id: OrderId | None = None


@dataclass(frozen=True, slots=True)
class ReplaceOrder:
    session: str
    cl_ord_id: str
    orig_cl_ord_id: str
    symbol: str
    side: Side
    ord_type: OrdType
    tif: TimeInForce
    qty: int
    price: int | None = None
    order_id: OrderId | None = None
    stop_px: int | None = None  # StopPx(99)
    expire_ts: int | None = None  # ExpireTime(126), µs UTC
    expire_date: int | None = None  # ExpireDate(432), YYYYMMDD
    max_floor: int | None = None  # MaxFloor(111): iceberg peak


@dataclass(frozen=True, slots=True)
class QueryOrder:
    """OrderStatusRequest: report the order's current state."""

    session: str
    cl_ord_id: str
    symbol: str
    side: Side
    order_id: OrderId | None = None
    status_req_id: str = ""  # OrdStatusReqID(790), FIX 4.4: echoed on the answer


@dataclass(frozen=True, slots=True)
class RejectMessage:
    """A message the FIX edge could decode only far enough to reject it.

    msg_type is the FIX MsgType it answers: "D" gets a rejected ExecutionReport,
    "F"/"G" get an OrderCancelReject. The kernel journals it like any other command.
    """

    session: str
    msg_type: str
    cl_ord_id: str
    code: RejectCode
    text: str
    orig_cl_ord_id: str = ""
    symbol: str = ""
    side: Side | None = None
    qty: int = 0
    account: str = ""
    request_type: str = ""  # "q": the MassCancelRequestType(530) to echo


@dataclass(frozen=True, slots=True)
class ExpireDayOrders:
    """The trading day ended at `cutoff` (µs UTC): every live Day order entered or last
    replaced before it expires. Issued by the venue's scheduler, also late after downtime."""

    cutoff: int


@dataclass(frozen=True, slots=True)
class ExpireOrders:
    """The venue's scheduler: GTD orders whose ExpireTime has come expire now. (Every
    command does this first, at its own time; this one has nothing else to do.)"""


@dataclass(frozen=True, slots=True)
class ScheduleTick:
    """The venue's scheduler: a scheduled phase begins or a timed call ends now, and a
    schedule not started yet starts (spec/auctions.md). Like ExpireOrders it has nothing
    else to do: every command runs what is due first."""


@dataclass(frozen=True, slots=True)
class MassCancel:
    """OrderMassCancelRequest: cancel the session firm's orders, of one symbol or all."""

    session: str
    cl_ord_id: str
    request_type: str  # FIX 530: "1" by symbol, "7" all orders
    symbol: str = ""


@dataclass(frozen=True, slots=True)
class SessionDisconnected:
    """The session logged out or dropped: cancel on disconnect applies."""

    session: str


@dataclass(frozen=True, slots=True)
class OperatorAction:
    """An operator's control action, recorded with who did it.

    action: halt | resume | kill | release | set_limit | cancel_all
    scope:  instrument | session | firm | venue
    key:    the symbol, session or firm ("" for the venue)
    field/value: for set_limit, the limit's name and new value (None removes the limit)
    """

    operator: str
    action: str
    scope: str
    key: str = ""
    field: str = ""
    value: str | None = None


@dataclass(frozen=True, slots=True)
class BustTrade:
    """The operator cancels a trade of the current trading day."""

    operator: str
    trade_id: TradeId
    reason: str = ""


Command = (
    NewOrder
    | CancelOrder
    | ReplaceOrder
    | QueryOrder
    | RejectMessage
    | ExpireDayOrders
    | ExpireOrders
    | ScheduleTick
    | MassCancel
    | SessionDisconnected
    | OperatorAction
    | BustTrade
)
