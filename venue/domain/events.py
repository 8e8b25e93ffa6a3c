"""Events: what happened, in the past tense, immutable.

Every event has a venue-wide sequence number `seq` (it is also the ExecID of the report the
event produces, so ExecIDs never repeat) and `ts`, the venue time in microseconds since the
Unix epoch (UTC). Events about one order carry a snapshot of the order after the event, so
the FIX edge and the SQL projector never need to look at kernel state.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from venue.domain.codes import CancelReason, RejectCode
from venue.domain.ids import ExecId, OrderId, Seq, TradeId
from venue.domain.values import OrdStatus, OrdType, Phase, Side, TimeInForce


@dataclass(frozen=True, slots=True)
class OrderSnapshot:
    order_id: OrderId
    session: str
    firm: str
    account: str
    cl_ord_id: str
    orig_cl_ord_id: str
    symbol: str
    side: Side
    ord_type: OrdType | None
    tif: TimeInForce | None
    price: int | None
    qty: int
    cum_qty: int
    leaves_qty: int
    cum_notional: int
    status: OrdStatus
    priority_ts: int
    stop_px: int | None = None
    triggered: bool = False
    post_only: bool = False
    expire_ts: int | None = None
    expire_date: int | None = None
    min_qty: int | None = None
    max_floor: int | None = None  # iceberg peak, MaxFloor(111)
    display_qty: int = 0  # what the book shows of the order after the event


@dataclass(frozen=True, slots=True)
class OrderAccepted:
    seq: Seq
    ts: int
    order: OrderSnapshot


@dataclass(frozen=True, slots=True)
class OrderRejected:
    seq: Seq
    ts: int
    order: OrderSnapshot
    code: RejectCode
    text: str


@dataclass(frozen=True, slots=True)
class OrderFilled:
    seq: Seq
    ts: int
    order: OrderSnapshot
    trade_id: TradeId
    last_px: int
    last_qty: int
    aggressor: bool


@dataclass(frozen=True, slots=True)
class TradeExecuted:
    """One match between two orders. Not a report by itself; both sides get an OrderFilled."""

    seq: Seq
    ts: int
    trade_id: TradeId
    symbol: str
    price: int
    qty: int
    aggressor_side: Side
    buy_order_id: OrderId
    sell_order_id: OrderId
    buy_firm: str
    sell_firm: str
    buy_session: str
    sell_session: str
    buy_account: str = ""
    sell_account: str = ""
    auction: bool = False  # printed by an auction's uncross (no aggressor really)


@dataclass(frozen=True, slots=True)
class OrderCanceled:
    seq: Seq
    ts: int
    order: OrderSnapshot
    reason: CancelReason
    text: str


@dataclass(frozen=True, slots=True)
class OrderReplaced:
    seq: Seq
    ts: int
    order: OrderSnapshot


@dataclass(frozen=True, slots=True)
class OrderExpired:
    seq: Seq
    ts: int
    order: OrderSnapshot


@dataclass(frozen=True, slots=True)
class OrderStatusReported:
    """Answer to an OrderStatusRequest. `order` is None when the order is unknown."""

    seq: Seq
    ts: int
    session: str
    cl_ord_id: str
    symbol: str
    side: Side
    order: OrderSnapshot | None
    firm: str = ""
    text: str = ""  # why a request the edge could not read is answered as unknown
    status_req_id: str = ""  # the request's OrdStatusReqID(790), "" if it had none


@dataclass(frozen=True, slots=True)
class CancelRejected:
    """An OrderCancelRequest (response_to "1") or replace (response_to "2") was refused."""

    seq: Seq
    ts: int
    session: str
    cl_ord_id: str
    orig_cl_ord_id: str
    response_to: str
    code: RejectCode
    text: str
    order: OrderSnapshot | None
    firm: str = ""


@dataclass(frozen=True, slots=True)
class OrderRestated:
    """The venue changed a resting order's quantity (self-trade decrement)."""

    seq: Seq
    ts: int
    order: OrderSnapshot
    text: str


@dataclass(frozen=True, slots=True)
class OrderTriggered:
    """A parked stop's trigger printed: it enters the book (or trades) from now on, as a
    market order (stop) or a limit order (stop-limit), with a new priority time."""

    seq: Seq
    ts: int
    order: OrderSnapshot
    text: str


@dataclass(frozen=True, slots=True)
class MassCancelReported:
    """Answer to an OrderMassCancelRequest; the cancels themselves are OrderCanceled events.

    response: FIX 531, "0" rejected or the request type it carried out.
    """

    seq: Seq
    ts: int
    session: str
    cl_ord_id: str
    request_type: str
    symbol: str
    response: str
    affected: int
    text: str
    firm: str = ""


@dataclass(frozen=True, slots=True)
class OperatorActionApplied:
    """An operator action the kernel carried out (or refused: ok False, text says why)."""

    seq: Seq
    ts: int
    operator: str
    action: str
    scope: str
    key: str
    field: str
    value: str | None
    ok: bool
    text: str


@dataclass(frozen=True, slots=True)
class TradeBusted:
    """A trade was canceled by the operator. Each side also gets an OrderTradeCanceled."""

    seq: Seq
    ts: int
    trade_id: TradeId
    symbol: str
    price: int
    qty: int
    operator: str
    text: str


@dataclass(frozen=True, slots=True)
class OrderTradeCanceled:
    """One side of a busted trade: ExecType H, ExecRefID = the fill's ExecID (exec_ref)."""

    seq: Seq
    ts: int
    order: OrderSnapshot
    trade_id: TradeId
    exec_ref: ExecId
    last_px: int
    last_qty: int
    text: str


@dataclass(frozen=True, slots=True)
class PhaseChanged:
    """An instrument's trading phase changed (or its call was extended: phase == previous).

    actor: the operator's name, "schedule", "volatility" or "halt" (resume into a call).
    call_end: when a timed call ends with its auction (µs UTC), None if it has no end."""

    seq: Seq
    ts: int
    symbol: str
    phase: Phase
    previous: Phase
    actor: str
    text: str
    call_end: int | None = None
    initial: bool = False  # the schedule's start sets the phase (not announced in a f)


@dataclass(frozen=True, slots=True)
class IndicativeChanged:
    """During a call: the price the auction would uncross at now, its volume and the
    surplus left (price None: nothing would execute). Published in market data."""

    seq: Seq
    ts: int
    symbol: str
    price: int | None
    volume: int
    surplus: int
    surplus_side: Side | None


Event = (
    OrderAccepted
    | OrderRejected
    | OrderFilled
    | TradeExecuted
    | OrderCanceled
    | OrderReplaced
    | OrderExpired
    | OrderStatusReported
    | CancelRejected
    | OrderRestated
    | OrderTriggered
    | MassCancelReported
    | OperatorActionApplied
    | TradeBusted
    | OrderTradeCanceled
    | PhaseChanged
    | IndicativeChanged
)

ORDER_EVENTS = (
    OrderAccepted,
    OrderRejected,
    OrderFilled,
    OrderCanceled,
    OrderReplaced,
    OrderExpired,
    OrderRestated,
    OrderTradeCanceled,
    OrderTriggered,
)


ORDER_EVENT_TYPES = frozenset(ORDER_EVENTS)  # membership by type(event): one hash lookup
_NO_REPORT = frozenset(
    (TradeExecuted, OperatorActionApplied, TradeBusted, PhaseChanged, IndicativeChanged)
)
_OWN_SESSION = frozenset((OrderStatusReported, CancelRejected, MassCancelReported))


def report_session(event: Event) -> str | None:
    """The session that must receive a report for this event, or None (trades)."""
    kind = type(event)
    if kind in _NO_REPORT:
        return None
    if kind in _OWN_SESSION:
        return event.session  # type: ignore[union-attr]
    return event.order.session  # type: ignore[union-attr]


def same_state(replayed: list[Event], recorded: list[Event]) -> bool:
    """Whether replay gave the recorded events up to their free texts (`text`): what
    recovery checks, so that a release that only words a reject differently still
    recovers a journal written before it."""
    if replayed == recorded:
        return True
    if len(replayed) != len(recorded):
        return False
    return all(
        a == b or _without_text(a) == _without_text(b)
        for a, b in zip(replayed, recorded, strict=True)
    )


def _without_text(event: Event) -> Event:
    if hasattr(event, "text"):
        return dataclasses.replace(event, text="")  # type: ignore[arg-type,type-var]
    return event
