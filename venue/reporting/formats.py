"""The four export formats, declared once: spec/exports.md is rendered from these.

ORDER_RECORDS   MiFID II RTS 24 style order records: one row per order event
CAT_EVENTS      US CAT style exchange events: accepted, modified, canceled, trade, fill, break
TRADE_REPORT    the day's trades, then totals per symbol, per firm and for the venue
SURVEILLANCE    wash trades, order-to-trade ratios (RTS 9), spoofing/layering candidates

Codes used inside the venue (FIX sides, OrdStatus, cancel reasons) are mapped here to each
format's vocabulary; the maps are part of the documentation.
"""

from __future__ import annotations

from venue.reporting.schema import Field, Schema

# -- shared vocabularies ----------------------------------------------------------------------

ORD_STATUS = {
    "0": "new (live, nothing filled)",
    "1": "partially filled (live)",
    "2": "filled",
    "4": "canceled",
    "8": "rejected",
    "C": "expired",
}
LIVE_STATUSES = frozenset({"0", "1"})

# venue CancelReason (venue/domain/codes.py) -> name
CANCEL_REASONS = {
    1: "requested",
    2: "ioc_remainder",
    3: "market_remainder",
    4: "fok_not_filled",
    5: "self_trade",
    6: "mass_cancel",
    7: "disconnect",
    8: "kill_switch",
    9: "operator",
}
# cancels the member asked for (a cancel request or a mass cancel); the rest are the venue's
MEMBER_CANCEL_REASONS = frozenset({1, 6})

ORDER_EVENT_TYPES = {
    "OrderAccepted": "a new order was accepted",
    "OrderRejected": "a new order was rejected",
    "OrderReplaced": "a cancel/replace request changed the order",
    "OrderRestated": "the venue reduced the order's quantity (self-trade decrement)",
    "OrderFilled": "the order traded (partly or fully)",
    "OrderCanceled": "the order was canceled (by request, mass cancel, or by the venue)",
    "OrderExpired": "the order's time in force ended",
    "OrderTradeCanceled": "a fill of the order was busted by the operator",
    "CancelRejected": "a cancel or cancel/replace request about the order was refused",
    "OrderTriggered": "a parked stop or stop-limit was triggered by a trade",
}

RTS24_EVENTS = {
    "NEWO": "new order (OrderAccepted)",
    "TRIG": "triggered (OrderTriggered: a stop or stop-limit)",
    "REME": "replaced by the member (OrderReplaced)",
    "REMA": "replaced by the venue, automatically (OrderRestated: self-trade decrement)",
    "CAME": "canceled at the member's initiative (cancel request, mass cancel)",
    "CAMO": "canceled by the venue (IOC/FOK/market remainder, self-trade prevention, "
    "cancel on disconnect, kill switch, operator)",
    "REJE": "rejected (OrderRejected; CancelRejected: a cancel/replace request refused)",
    "EXPI": "expired (OrderExpired)",
    "PARF": "partially filled (OrderFilled leaving quantity open)",
    "FILL": "filled (OrderFilled completing the order)",
    "CHMO": "changed by market operations (OrderTradeCanceled: a fill busted)",
}
RTS24_VALIDITY = {
    "DAVY": "good for the day (TIF 0)",
    "GTCV": "good till canceled (TIF 1)",
    "IOCV": "immediate or cancel (TIF 3)",
    "FOKV": "fill or kill (TIF 4)",
    "GTDV": "good till date or time (TIF 6: ExpireTime 126 or ExpireDate 432)",
}
TIF_TO_RTS24 = {"0": "DAVY", "1": "GTCV", "3": "IOCV", "4": "FOKV", "6": "GTDV"}

# -- order records (RTS 24) -------------------------------------------------------------------

ORDER_RECORDS = Schema(
    "order-records",
    "Order records (MiFID II RTS 24 style)",
    "One row per event that concerns an order, in event sequence order: every event type "
    "of `order_events` except trades (`TradeExecuted`, `TradeBusted`: each side's "
    "`OrderFilled` / `OrderTradeCanceled` is here), status answers, mass-cancel reports and "
    "operator actions. Order terms are the order's state after the event. The RTS 24 "
    "field each column stands for is named in brackets (Annex, Table 2).",
    [
        Field(
            "seq",
            "int",
            "Venue event sequence number, gapless over all events; also the "
            "ExecID(17) of the report sent for it [13 sequence number].",
        ),
        Field(
            "event_ts",
            "timestamp",
            "When the venue processed the event, UTC, "
            "microseconds; = TransactTime(60) [9 date and time].",
        ),
        Field("event_type", "enum", "The venue's event.", ORDER_EVENT_TYPES),
        Field(
            "rts24_event",
            "enum",
            "The event in RTS 24 terms [19 events affecting the order].",
            RTS24_EVENTS,
        ),
        Field("member_id", "string", "The member firm [1 entity which submitted the order]."),
        Field(
            "session_id",
            "string",
            "The member's FIX session (SenderCompID) that owns "
            "the order [4/5 person or algorithm within the firm].",
        ),
        Field(
            "client_id",
            "string",
            "Account(1) as the member gave it [3 client identification code].",
        ),
        Field(
            "order_id",
            "int",
            "OrderID(37), the venue's order identifier [18 order "
            "identification code]; null on a cancel/replace reject of an unknown order.",
        ),
        Field(
            "cl_ord_id",
            "string",
            "ClOrdID(11): the order's current one, or the refused request's on CancelRejected.",
        ),
        Field("orig_cl_ord_id", "string", "OrigClOrdID(41) after a replace or cancel."),
        Field("symbol", "string", "Instrument symbol [16 instrument identification]."),
        Field(
            "side",
            "enum",
            "Buy or sell [30 buy-sell indicator]; null for a rejected order whose Side(54) is "
            "neither (cross, lend, ...).",
            {
                "BUYI": "buy (Side 1; 3 buy minus)",
                "SELL": "sell (Side 2; 4 sell plus, 5 and 6 short)",
            },
        ),
        Field(
            "order_type",
            "enum",
            "OrdType(40) [20/21 order type].",
            {
                "limit": "limit (OrdType 2)",
                "market": "market (OrdType 1)",
                "stop": "stop (OrdType 3)",
                "stop_limit": "stop limit (OrdType 4)",
            },
        ),
        Field("validity", "enum", "TimeInForce(59) [10 validity period].", RTS24_VALIDITY),
        Field(
            "validity_until",
            "string",
            "GTD only: ExpireTime(126) as a UTC timestamp, or ExpireDate(432) as YYYY-MM-DD "
            "(through that trading day) [validity date and time].",
        ),
        Field(
            "order_restriction",
            "enum",
            "Instructions that restrict how the order trades [order restriction].",
            {
                "POST": "post-only (ExecInst 18=6)",
                "MINQ": "minimum quantity (MinQty 110, see min_qty)",
            },
        ),
        Field("min_qty", "int", "MinQty(110) [minimum acceptable quantity]."),
        Field(
            "display_qty",
            "int",
            "An iceberg's peak, MaxFloor(111); null when the whole order is shown "
            "[displayed quantity].",
        ),
        Field("stop_price", "decimal", "StopPx(99) of a stop or stop-limit [stop price]."),
        Field("limit_price", "decimal", "Price(44); null for a market order [22 limit price]."),
        Field("initial_qty", "int", "OrderQty(38) after the event [34 initial quantity]."),
        Field("remaining_qty", "int", "LeavesQty(151) after the event [35 remaining quantity]."),
        Field("traded_qty", "int", "CumQty(14) after the event [37 traded quantity]."),
        Field("ord_status", "enum", "OrdStatus(39) after the event.", ORD_STATUS),
        Field(
            "order_status",
            "enum",
            "[31 order status]",
            {"ACTI": "active: live in the book", "INAC": "inactive: done"},
        ),
        Field(
            "priority_ts",
            "timestamp",
            "Time priority of the order: entry, or its last "
            "replace that lost priority [12 priority time stamp].",
        ),
        Field(
            "priority_size",
            "int",
            "The quantity holding that priority: remaining_qty "
            "while the order is live, null once it is done [priority size].",
        ),
        Field(
            "trade_id",
            "int",
            "The trade (OrderFilled, OrderTradeCanceled) [46 trading "
            "venue transaction identification code].",
        ),
        Field(
            "exec_ref",
            "int",
            "ExecRefID(19) on OrderTradeCanceled: the seq (ExecID) of the fill the bust cancels.",
        ),
        Field("last_px", "decimal", "LastPx(31): the fill's price [26 transaction price]."),
        Field("last_qty", "int", "LastQty(32): the fill's quantity."),
        Field(
            "liquidity",
            "enum",
            "Whether the fill added or took liquidity [42 passive or aggressive indicator].",
            {"PASV": "passive: the resting order", "AGRE": "aggressive: the incoming order"},
        ),
        Field(
            "rejected_request",
            "enum",
            "On CancelRejected: what was refused (CxlRejResponseTo 434).",
            {"cancel": "a cancel request (434=1)", "replace": "a cancel/replace request (434=2)"},
        ),
        Field(
            "reject_code",
            "int",
            "The venue's RejectCode (1xxx validation, 2xxx risk, 3xxx order state).",
        ),
        Field(
            "cancel_reason",
            "enum",
            "Why the order was canceled (OrderCanceled).",
            {name: f"CancelReason {code}" for code, name in CANCEL_REASONS.items()},
        ),
        Field("text", "string", "Text(58) sent with the report (reject and cancel reasons)."),
    ],
    {
        "": (
            "seq",
            "event_ts",
            "event_type",
            "rts24_event",
            "member_id",
            "session_id?",
            "client_id?",
            "order_id?",
            "cl_ord_id?",
            "orig_cl_ord_id?",
            "symbol?",
            "side?",
            "order_type?",
            "validity?",
            "validity_until?",
            "order_restriction?",
            "min_qty?",
            "display_qty?",
            "stop_price?",
            "limit_price?",
            "initial_qty?",
            "remaining_qty?",
            "traded_qty?",
            "ord_status?",
            "order_status?",
            "priority_ts?",
            "priority_size?",
            "trade_id?",
            "exec_ref?",
            "last_px?",
            "last_qty?",
            "liquidity?",
            "rejected_request?",
            "reject_code?",
            "cancel_reason?",
            "text?",
        )
    },
)

# -- CAT events ---------------------------------------------------------------------------------

CAT_SIDES = {"B": "buy", "SL": "sell"}
CAT_KINDS = {
    "order_accepted": "OrderAccepted: the venue accepted a new order",
    "order_modified": "OrderReplaced: a cancel/replace request changed the order",
    "order_restated": "OrderRestated: the venue reduced the order's quantity (self-trade "
    "decrement)",
    "order_canceled": "OrderCanceled or OrderExpired: the order's open quantity was canceled",
    "order_trade": "TradeExecuted: two orders matched (one row per trade, both sides)",
    "order_fill": "OrderFilled: one side of a trade (one row per order per trade)",
    "trade_break": "TradeBusted: the operator canceled a trade",
}
_ORDER = (
    "event_id",
    "event_ts",
    "symbol",
    "order_id",
    "cl_ord_id",
    "orig_cl_ord_id?",
    "member_id",
    "session_id",
    "account?",
    "side",
    "order_type",
    "tif",
    "price?",
    "qty",
    "leaves_qty",
    "cum_qty",
)
_TRADE = (
    "event_id",
    "event_ts",
    "symbol",
    "trade_id",
    "trade_price",
    "trade_qty",
    "aggressor_side",
    "buy_order_id",
    "sell_order_id",
    "buy_member_id",
    "sell_member_id",
    "buy_session_id",
    "sell_session_id",
    "buy_account?",
    "sell_account?",
)

CAT_EVENTS = Schema(
    "cat-events",
    "Exchange events (US CAT style)",
    "One row per reportable exchange event, in event sequence order, typed by `event_type`. "
    "Rejected orders, refused cancel/replace requests, status answers and the per-order "
    "sides of a bust are not CAT exchange events; they are in the order records.",
    [
        Field(
            "event_id",
            "int",
            "Venue event sequence number (unique, gapless over all "
            "venue events; = ExecID(17) for order events).",
        ),
        Field("event_ts", "timestamp", "Event time, UTC, microseconds."),
        Field("symbol", "string", "Instrument symbol."),
        Field("order_id", "int", "OrderID(37), the venue's order identifier."),
        Field("cl_ord_id", "string", "ClOrdID(11) after the event."),
        Field("orig_cl_ord_id", "string", "OrigClOrdID(41) after a modify or cancel."),
        Field("member_id", "string", "The member firm that owns the order."),
        Field("session_id", "string", "The member's FIX session (SenderCompID)."),
        Field("account", "string", "Account(1) as the member gave it."),
        Field("side", "enum", "The order's side.", CAT_SIDES),
        Field("order_type", "enum", "OrdType(40).", {"LMT": "limit", "MKT": "market"}),
        Field(
            "tif",
            "enum",
            "TimeInForce(59).",
            {
                "DAY": "day",
                "GTC": "good till canceled",
                "IOC": "immediate or cancel",
                "FOK": "fill or kill",
            },
        ),
        Field("price", "decimal", "Limit price after the event; null for a market order."),
        Field("qty", "int", "Order quantity after the event."),
        Field("leaves_qty", "int", "Open quantity after the event."),
        Field("cum_qty", "int", "Executed quantity after the event."),
        Field("cancel_qty", "int", "Quantity canceled by this event."),
        Field(
            "cancel_reason",
            "enum",
            "Why the order was canceled.",
            {
                **{name: f"CancelReason {code}" for code, name in CANCEL_REASONS.items()},
                "expired": "the time in force ended (OrderExpired)",
            },
        ),
        Field(
            "initiator",
            "enum",
            "Who caused the modification or cancel.",
            {"member": "the member (a request)", "venue": "the venue (automatic or operator)"},
        ),
        Field("trade_id", "int", "The venue's trade identifier (TradeID)."),
        Field("trade_price", "decimal", "Trade price (LastPx on a fill)."),
        Field("trade_qty", "int", "Trade quantity (LastQty on a fill)."),
        Field(
            "liquidity",
            "enum",
            "On a fill: whether this order added or took liquidity.",
            {
                "added": "resting order (LastLiquidityInd 1)",
                "removed": "incoming order (LastLiquidityInd 2)",
            },
        ),
        Field("aggressor_side", "enum", "The side of the incoming order.", CAT_SIDES),
        Field("buy_order_id", "int", "The buy order."),
        Field("sell_order_id", "int", "The sell order."),
        Field("buy_member_id", "string", "The buyer's firm."),
        Field("sell_member_id", "string", "The seller's firm."),
        Field("buy_session_id", "string", "The buyer's FIX session."),
        Field("sell_session_id", "string", "The seller's FIX session."),
        Field("buy_account", "string", "The buyer's Account(1)."),
        Field("sell_account", "string", "The seller's Account(1)."),
        Field("operator", "string", "On a trade break: the operator who busted the trade."),
        Field("text", "string", "Text(58) of the cancel, or the bust's reason."),
    ],
    {
        "order_accepted": _ORDER,
        "order_modified": (*_ORDER, "initiator"),
        "order_restated": (*_ORDER, "initiator", "text?"),
        "order_canceled": (*_ORDER, "cancel_qty", "cancel_reason", "initiator", "text?"),
        "order_trade": _TRADE,
        "order_fill": (*_ORDER, "trade_id", "trade_price", "trade_qty", "liquidity"),
        "trade_break": (*_TRADE, "operator?", "text?"),
    },
    kind_field="event_type",
    kind_descriptions=CAT_KINDS,
)

# -- daily trade report -------------------------------------------------------------------------

TRADE_SIDES = {"buy": "Side 1", "sell": "Side 2"}
TRADE_REPORT = Schema(
    "trades",
    "Daily trade report",
    "The `trades` table for the period, one `trade` row per trade in execution order "
    "(busted trades included, with their status), then one `symbol_total` row per symbol, "
    "one `firm_total` row per firm (both sorted by name) and one `venue_total` row. Totals "
    "count active trades only; busted ones are counted apart in `busted_count`. With a firm "
    "filter, trades with that firm on either side are listed and only that firm gets a "
    "`firm_total`.",
    [
        Field("trade_id", "int", "The venue's trade identifier (TradeID)."),
        Field("seq", "int", "Sequence number of the TradeExecuted event."),
        Field("executed_ts", "timestamp", "Execution time, UTC, microseconds."),
        Field("symbol", "string", "Instrument symbol."),
        Field("price", "decimal", "Trade price."),
        Field("qty", "int", "Trade quantity; on a total row, the sum over active trades."),
        Field("notional", "decimal", "price x qty; on a total row, the sum over active trades."),
        Field("aggressor_side", "enum", "The side of the incoming order.", TRADE_SIDES),
        Field("buy_order_id", "int", "OrderID(37) of the buy order."),
        Field("sell_order_id", "int", "OrderID(37) of the sell order."),
        Field("buy_firm", "string", "The buyer's firm."),
        Field("sell_firm", "string", "The seller's firm."),
        Field("buy_session", "string", "The buyer's FIX session."),
        Field("sell_session", "string", "The seller's FIX session."),
        Field("buy_account", "string", "The buyer's Account(1)."),
        Field("sell_account", "string", "The seller's Account(1)."),
        Field(
            "status",
            "enum",
            "Trade status.",
            {"active": "stands", "busted": "canceled by the operator"},
        ),
        Field("busted_seq", "int", "Sequence number of the TradeBusted event."),
        Field("firm", "string", "The firm a firm_total row is about."),
        Field(
            "trade_count",
            "int",
            "Active trades (for a firm: with the firm on either "
            "side; a trade between two of its own sessions counts once).",
        ),
        Field("buy_qty", "int", "Quantity the firm bought in active trades."),
        Field("buy_notional", "decimal", "Notional the firm bought in active trades."),
        Field("sell_qty", "int", "Quantity the firm sold in active trades."),
        Field("sell_notional", "decimal", "Notional the firm sold in active trades."),
        Field("busted_count", "int", "Busted trades (not in the other totals)."),
    ],
    {
        "trade": (
            "trade_id",
            "seq",
            "executed_ts",
            "symbol",
            "price",
            "qty",
            "notional",
            "aggressor_side",
            "buy_order_id",
            "sell_order_id",
            "buy_firm",
            "sell_firm",
            "buy_session",
            "sell_session",
            "buy_account?",
            "sell_account?",
            "status",
            "busted_seq?",
        ),
        "symbol_total": ("symbol", "trade_count", "qty", "notional", "busted_count"),
        "firm_total": (
            "firm",
            "trade_count",
            "buy_qty",
            "buy_notional",
            "sell_qty",
            "sell_notional",
            "busted_count",
        ),
        "venue_total": ("trade_count", "qty", "notional", "busted_count"),
    },
    kind_field="record",
    kind_descriptions={
        "trade": "one trade",
        "symbol_total": "totals of one symbol",
        "firm_total": "totals of one firm",
        "venue_total": "totals of the report",
    },
)

# -- surveillance --------------------------------------------------------------------------------

WASH_BASES = {
    "same_firm": "the same firm on both sides",
    "same_account": "the same Account(1) on both sides, different firms",
    "same_firm_and_account": "both",
}
SURVEILLANCE = Schema(
    "surveillance",
    "Surveillance report",
    "Three sections, in this order: `wash_trade` rows (execution order), `otr` rows (by "
    "firm, then symbol) and `spoof_candidate` rows (cancel order). Definitions are in the "
    "section 'Surveillance definitions' below. Every row carries the identifiers of the "
    "orders and trades behind it, so each finding can be traced in order records and in "
    "the trade report.",
    [
        Field("basis", "enum", "Why the trade is a wash trade candidate.", WASH_BASES),
        Field("trade_id", "int", "The trade (wash_trade), or the fill's trade (spoof_candidate)."),
        Field("executed_ts", "timestamp", "Execution time of the trade."),
        Field("symbol", "string", "Instrument symbol."),
        Field(
            "price",
            "decimal",
            "Trade price (wash_trade); the canceled order's limit price (spoof_candidate).",
        ),
        Field(
            "qty",
            "int",
            "Trade quantity (wash_trade); the canceled order's quantity (spoof_candidate).",
        ),
        Field(
            "trade_status",
            "enum",
            "Status of the trade now.",
            {"active": "stands", "busted": "canceled by the operator"},
        ),
        Field("aggressor_side", "enum", "The side of the incoming order.", TRADE_SIDES),
        Field("buy_order_id", "int", "The buy order."),
        Field("buy_cl_ord_id", "string", "The buy order's latest ClOrdID."),
        Field("buy_firm", "string", "The buyer's firm."),
        Field("buy_session", "string", "The buyer's FIX session."),
        Field("buy_account", "string", "The buyer's Account(1)."),
        Field("sell_order_id", "int", "The sell order."),
        Field("sell_cl_ord_id", "string", "The sell order's latest ClOrdID."),
        Field("sell_firm", "string", "The seller's firm."),
        Field("sell_session", "string", "The seller's FIX session."),
        Field("sell_account", "string", "The seller's Account(1)."),
        Field("firm", "string", "The member firm."),
        Field("new_orders", "int", "New orders accepted (OrderAccepted)."),
        Field("rejected_orders", "int", "New orders rejected (OrderRejected)."),
        Field("modifications", "int", "Cancel/replace requests carried out (OrderReplaced)."),
        Field(
            "cancellations",
            "int",
            "Cancels the member asked for: OrderCanceled by a "
            "cancel request or a mass cancel (one per order canceled).",
        ),
        Field(
            "rejected_requests",
            "int",
            "Cancel and cancel/replace requests refused about a known order (CancelRejected).",
        ),
        Field("orders", "int", "RTS 9 number of orders: the sum of the five counts above."),
        Field(
            "order_volume",
            "int",
            "RTS 9 volume of orders: quantity of new and rejected "
            "orders, quantity after each modification, quantity canceled by each "
            "cancellation (refused requests carry no recorded quantity: 0).",
        ),
        Field(
            "trades",
            "int",
            "RTS 9 transactions: fills of the firm's orders in active (not busted) trades.",
        ),
        Field("traded_volume", "int", "Quantity of those fills."),
        Field(
            "otr_count",
            "decimal",
            "orders / trades - 1, rounded half up to 4 decimals; null when trades is 0.",
        ),
        Field(
            "otr_volume",
            "decimal",
            "order_volume / traded_volume - 1, rounded half up to "
            "4 decimals; null when traded_volume is 0.",
        ),
        Field("window_ms", "int", "The spoofing window used (milliseconds)."),
        Field("order_id", "int", "The canceled order."),
        Field("cl_ord_id", "string", "The canceled order's ClOrdID after the cancel."),
        Field("session", "string", "The canceled order's FIX session."),
        Field("side", "enum", "The canceled order's side.", TRADE_SIDES),
        Field(
            "entered_ts",
            "timestamp",
            "When the canceled order was entered (null if its orders row is missing).",
        ),
        Field("canceled_qty", "int", "Open quantity the cancel removed."),
        Field("cancel_seq", "int", "Sequence number of the OrderCanceled event."),
        Field("cancel_ts", "timestamp", "Time of the cancel."),
        Field(
            "cancel_reason",
            "enum",
            "How the member canceled.",
            {
                "requested": "a cancel request (CancelReason 1)",
                "mass_cancel": "a mass cancel (CancelReason 6)",
            },
        ),
        Field(
            "fill_seq",
            "int",
            "Sequence number of the opposite-side OrderFilled event: "
            "the latest one before the cancel.",
        ),
        Field("fill_ts", "timestamp", "Time of that fill."),
        Field("fill_order_id", "int", "The filled order (same firm, opposite side)."),
        Field("fill_cl_ord_id", "string", "The filled order's ClOrdID at the fill."),
        Field("fill_session", "string", "The filled order's FIX session."),
        Field("fill_px", "decimal", "Fill price (LastPx)."),
        Field("fill_qty", "int", "Fill quantity (LastQty)."),
        Field("delay_us", "int", "cancel_ts - fill_ts in microseconds (<= window_ms x 1000)."),
        Field(
            "fills_in_window",
            "int",
            "Opposite-side fills of the firm in the symbol within the window before the cancel.",
        ),
        Field("fill_qty_in_window", "int", "Their total quantity."),
    ],
    {
        "wash_trade": (
            "basis",
            "trade_id",
            "executed_ts",
            "symbol",
            "price",
            "qty",
            "trade_status",
            "aggressor_side",
            "buy_order_id",
            "buy_cl_ord_id?",
            "buy_firm",
            "buy_session",
            "buy_account?",
            "sell_order_id",
            "sell_cl_ord_id?",
            "sell_firm",
            "sell_session",
            "sell_account?",
        ),
        "otr": (
            "firm",
            "symbol",
            "new_orders",
            "rejected_orders",
            "modifications",
            "cancellations",
            "rejected_requests",
            "orders",
            "order_volume",
            "trades",
            "traded_volume",
            "otr_count?",
            "otr_volume?",
        ),
        "spoof_candidate": (
            "firm",
            "symbol",
            "window_ms",
            "order_id",
            "cl_ord_id",
            "session",
            "side",
            "price?",
            "qty",
            "entered_ts?",
            "canceled_qty",
            "cancel_seq",
            "cancel_ts",
            "cancel_reason",
            "fill_seq",
            "fill_ts",
            "fill_order_id",
            "fill_cl_ord_id",
            "fill_session",
            "trade_id",
            "trade_status",
            "fill_px",
            "fill_qty",
            "delay_us",
            "fills_in_window",
            "fill_qty_in_window",
        ),
    },
    kind_field="record",
    kind_descriptions={
        "wash_trade": "a trade with the same owner on both sides",
        "otr": "order-to-trade ratio of one firm in one symbol (RTS 9)",
        "spoof_candidate": "an order canceled soon after an opposite-side fill of its firm",
    },
)

SCHEMAS = {s.name: s for s in (ORDER_RECORDS, CAT_EVENTS, TRADE_REPORT, SURVEILLANCE)}
