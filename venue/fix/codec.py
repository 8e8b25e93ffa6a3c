"""Raw FIX text <-> commands and events, for FIX 4.2, 4.4 and FIX 5.0 SP2 over FIXT 1.1.
Pure functions, no quickfix.

    parse(raw) -> {tag: value}           split an incoming message once
    decode(fields, session) -> Command   D F G H q; FIX-valid but unacceptable -> RejectMessage
    encode(event, begin_string) -> text  the report an event produces (None: no report)

QuickFIX's data dictionary has already stopped what is not FIX; this module stops what is
FIX but not acceptable here. Outgoing text carries placeholder BodyLength(9)=0 and
CheckSum(10)=000 and no CompIDs, sequence number or SendingTime: QuickFIX fills the header
and recomputes both when it sends (Message.setString + Session.sendToTarget).

A FIXT.1.1 session speaks FIX 5.0 SP2 (its DefaultApplVerID; no ApplVerID(1128) is sent):
its messages are the 4.4 ones with 5.0 SP2's own values where they differ (the tables under
"FIX 5.0 SP2" below, MassActionReportID on OrderMassCancelReport). spec/fixt.md.
"""

from __future__ import annotations

import calendar
import re
import time
from collections.abc import Callable

from venue.domain.codes import RejectCode
from venue.domain.commands import (
    CancelOrder,
    Command,
    MassCancel,
    NewOrder,
    QueryOrder,
    RejectMessage,
    ReplaceOrder,
)
from venue.domain.events import (
    CancelRejected,
    Event,
    IndicativeChanged,
    MassCancelReported,
    OperatorActionApplied,
    OrderAccepted,
    OrderCanceled,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderReplaced,
    OrderRestated,
    OrderSnapshot,
    OrderStatusReported,
    OrderTradeCanceled,
    OrderTriggered,
    PhaseChanged,
    TradeBusted,
    TradeExecuted,
)
from venue.domain.ids import OrderId
from venue.domain.reference import StpMode
from venue.domain.values import (
    OrdType,
    Side,
    TimeInForce,
    format_avg_price,
    format_price,
    parse_price,
)
from venue.fix import bounds

SOH = "\x01"
FIX42 = "FIX.4.2"
FIX44 = "FIX.4.4"
FIXT11 = "FIXT.1.1"  # application messages in FIX 5.0 SP2
# Messages that go to the kernel; any other application MsgType is answered 380=3.
ORDER_MSG_TYPES = frozenset(("D", "F", "G", "H", "q"))

# -- parse ----------------------------------------------------------------------------------

_FIELD = re.compile("([^=\x01]*)=([^\x01]*)\x01")


def parse(raw: str) -> dict[str, str]:
    """Split a raw FIX message into {tag: value}. A repeated tag keeps its last value."""
    return dict(_FIELD.findall(raw))


# -- decode ---------------------------------------------------------------------------------

_SIDES = {"1": Side.BUY, "2": Side.SELL}  # the sides the venue trades
_ANY_SIDE = {side.value: side for side in Side}  # what a reject can echo
_ORD_TYPES = {
    "1": OrdType.MARKET, "2": OrdType.LIMIT, "3": OrdType.STOP, "4": OrdType.STOP_LIMIT,
    "K": OrdType.MARKET_TO_LIMIT,  # FIX 4.4: QuickFIX's 4.2 dictionary refuses K itself
}  # fmt: skip
_TIFS = {
    "0": TimeInForce.DAY, "1": TimeInForce.GTC, "2": TimeInForce.AT_OPEN,
    "3": TimeInForce.IOC, "4": TimeInForce.FOK, "6": TimeInForce.GTD,
    "7": TimeInForce.AT_CLOSE,  # FIX 4.4 on: QuickFIX's 4.2 dictionary refuses 59=7 itself
}  # fmt: skip

_SIDE_NAMES = {
    "3": "buy minus", "4": "sell plus", "5": "sell short", "6": "sell short exempt",
    "7": "undisclosed", "8": "cross", "9": "cross short",
}  # fmt: skip
_ORD_TYPE_NAMES = {
    "3": "stop", "4": "stop limit", "5": "market on close", "6": "with or without",
    "7": "limit or better", "8": "limit with or without", "9": "on basis", "D": "previously quoted",
    "E": "previously indicated", "J": "market if touched", "K": "market with leftover as limit",
    "P": "pegged",
}  # fmt: skip
_STP_MODES = {mode.value: mode for mode in StpMode}
_TIF_NAMES = {
    "2": "at the opening", "5": "good till crossing", "6": "good till date", "7": "at the close",
}  # fmt: skip

# Order instructions the venue does not offer; present at all -> rejected.
_UNSUPPORTED_TAGS: tuple[tuple[str, str], ...] = ()  # every such tag is now offered

_US = RejectCode.UNSUPPORTED_CHARACTERISTIC


class _Reject(Exception):
    """Raised inside a decoder; becomes a RejectMessage."""

    def __init__(self, code: RejectCode, text: str) -> None:
        self.code = code
        self.text = text


def _named(value: str, names: dict[str, str]) -> str:
    name = names.get(value)
    return f"{value} ({name})" if name else value


def _required(fields: dict[str, str], tag: str, name: str) -> str:
    value = fields.get(tag)
    if not value:
        raise _Reject(RejectCode.MISSING_FIELD, f"{name}({tag}) is required")
    return value


def _side(fields: dict[str, str]) -> Side:
    text = _required(fields, "54", "Side")
    side = _SIDES.get(text)
    if side is None:
        raise _Reject(
            _US, f"Side(54)={_named(text, _SIDE_NAMES)} is not supported: use 1 (buy) or 2 (sell)"
        )
    return side


def _ord_type(fields: dict[str, str]) -> OrdType:
    text = _required(fields, "40", "OrdType")
    ord_type = _ORD_TYPES.get(text)
    if ord_type is None:
        raise _Reject(
            _US,
            f"OrdType(40)={_named(text, _ORD_TYPE_NAMES)} is not supported: "
            "use 1 (market), 2 (limit), 3 (stop), 4 (stop limit) or K (market to limit)",
        )
    return ord_type


def _tif(fields: dict[str, str]) -> TimeInForce:
    text = fields.get("59")
    if text is None:
        return TimeInForce.DAY
    tif = _TIFS.get(text)
    if tif is None:
        raise _Reject(
            _US,
            f"TimeInForce(59)={_named(text, _TIF_NAMES)} is not supported: "
            "use 0 (day), 1 (GTC), 2 (at the opening), 3 (IOC), 4 (FOK), 6 (GTD) or "
            "7 (at the close)",
        )
    return tif


def _stp(fields: dict[str, str]) -> StpMode | None:
    """SelfTradePrevention(7928), a user-defined tag: overrides the firm's default."""
    text = fields.get("7928")
    if text is None:
        return None
    mode = _STP_MODES.get(text)
    if mode is None:
        allowed = ", ".join(f"{m.value} ({m.name.lower().replace('_', ' ')})" for m in StpMode)
        raise _Reject(_US, f"SelfTradePrevention(7928)={text} is not supported: use {allowed}")
    return mode


def _post_only(fields: dict[str, str]) -> bool:
    """ExecInst(18): only 6 (participate, don't initiate: post only) is offered."""
    text = fields.get("18")
    if text is None:
        return False
    if text.strip() == "6":
        return True
    raise _Reject(_US, f"ExecInst(18)={text} is not supported: use 6 (post only)")


_UTC_TIMESTAMP = re.compile(r"(\d{4})(\d\d)(\d\d)-(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?")
_DATE = re.compile(r"(\d{4})(\d\d)(\d\d)")


def _expire_time(fields: dict[str, str]) -> int | None:
    """ExpireTime(126), a UTCTimestamp -> µs since the epoch."""
    text = fields.get("126")
    if text is None:
        return None
    m = _UTC_TIMESTAMP.fullmatch(text)
    try:
        if m is None:
            raise ValueError(text)
        y, mo, d, h, mi, s, frac = m.groups()
        time.strptime(f"{y}{mo}{d}{h}{mi}{s}", "%Y%m%d%H%M%S")  # a real date and time
        secs = calendar.timegm((int(y), int(mo), int(d), int(h), int(mi), int(s), 0, 0, 0))
        return secs * 1_000_000 + int(((frac or "") + "000000")[:6])
    except ValueError:
        raise _Reject(
            RejectCode.INVALID_EXPIRY,
            f"ExpireTime(126)={text} is not valid: use YYYYMMDD-HH:MM:SS[.sss] (UTC)",
        ) from None


def _expire_date(fields: dict[str, str]) -> int | None:
    """ExpireDate(432), a LocalMktDate YYYYMMDD -> the int YYYYMMDD."""
    text = fields.get("432")
    if text is None:
        return None
    try:
        if _DATE.fullmatch(text) is None:
            raise ValueError(text)
        time.strptime(text, "%Y%m%d")
    except ValueError:
        raise _Reject(
            RejectCode.INVALID_EXPIRY, f"ExpireDate(432)={text} is not valid: use YYYYMMDD"
        ) from None
    return int(text)


def _min_qty(fields: dict[str, str], tag: str = "110", name: str = "MinQty") -> int | None:
    text = fields.get(tag)
    if text is None:
        return None
    whole, _, frac = text.partition(".")
    if _is_float(text) and not frac.strip("0"):
        return int(whole)  # zero or negative: the kernel's own check says so
    raise _Reject(
        RejectCode.INVALID_QUANTITY, f"{name}({tag})={text} is not valid: use a whole number"
    )


def _max_floor(fields: dict[str, str]) -> int | None:
    """MaxFloor(111): the iceberg peak. 5.0 SP2 also has DisplayQty(1138) (the 4.x
    dictionaries refuse it at the session layer); either may be sent, both only if equal."""
    peak = _min_qty(fields, "111", "MaxFloor")
    display = _min_qty(fields, "1138", "DisplayQty")
    if display is None:
        return peak
    if peak is not None and peak != display:
        raise _Reject(
            RejectCode.INVALID_QUANTITY,
            f"MaxFloor(111)={peak} and DisplayQty(1138)={display} differ: send one of them",
        )
    return display


def _no_unsupported(fields: dict[str, str]) -> None:
    for tag, name in _UNSUPPORTED_TAGS:
        if tag in fields:
            raise _Reject(_US, f"{name} is not supported")


def _qty(fields: dict[str, str]) -> int:
    text = _required(fields, "38", "OrderQty")
    if text.isdigit() and text.isascii():
        return int(text)
    # FIX float syntax: [-]digits[.digits]; a whole number may carry zero decimals.
    whole, _, frac = text.partition(".")
    if _is_float(text) and not frac.strip("0"):
        return int(whole)  # a negative quantity goes on to the kernel's own check
    raise _Reject(
        RejectCode.INVALID_QUANTITY, f"OrderQty(38)={text} is not valid: use a whole number"
    )


def _price(fields: dict[str, str], tag: str = "44", name: str = "Price") -> int | None:
    text = fields.get(tag)
    if text is None:
        return None
    if _is_float(text):
        try:
            return parse_price(text)
        except (ValueError, ArithmeticError):
            pass
    raise _Reject(
        RejectCode.INVALID_PRICE,
        f"{name}({tag})={text} is not valid: use a decimal number with at most 8 decimals",
    )


def _stop_px(fields: dict[str, str]) -> int | None:
    return _price(fields, "99", "StopPx")


def _is_float(text: str) -> bool:
    """FIX float syntax: optional minus, digits, optional point and digits. No exponent."""
    digits = text[1:] if text[:1] == "-" else text
    digits = digits.replace(".", "", 1)
    return digits.isdigit() and digits.isascii()


def _order_id(fields: dict[str, str]) -> OrderId | None:
    """Our OrderIDs are decimal integers (bounds.check_message refused any other 37)."""
    value = bounds.order_id(fields.get("37"))
    return None if value is None else OrderId(value)


def _new_order(f: dict[str, str], session: str) -> NewOrder:
    cl_ord_id = _required(f, "11", "ClOrdID")
    symbol = _required(f, "55", "Symbol")
    side = _side(f)
    ord_type = _ord_type(f)
    tif = _tif(f)
    _no_unsupported(f)
    stp = _stp(f)
    return NewOrder(
        session, cl_ord_id, symbol, side, ord_type, tif, _qty(f), _price(f), f.get("1", ""), stp,
        _stop_px(f), _post_only(f), _expire_time(f), _expire_date(f), _min_qty(f),
        _max_floor(f), poss_resend=f.get("97") == "Y",
    )  # fmt: skip


def _cancel(f: dict[str, str], session: str) -> CancelOrder:
    return CancelOrder(
        session,
        _required(f, "11", "ClOrdID"),
        _required(f, "41", "OrigClOrdID"),
        _required(f, "55", "Symbol"),
        _side(f),
        _order_id(f),
    )


def _replace(f: dict[str, str], session: str) -> ReplaceOrder:
    cl_ord_id = _required(f, "11", "ClOrdID")
    orig_cl_ord_id = _required(f, "41", "OrigClOrdID")
    symbol = _required(f, "55", "Symbol")
    side = _side(f)
    ord_type = _ord_type(f)
    if "59" not in f:  # a replace restates the order: no silent change of a GTC to Day
        raise _Reject(
            RejectCode.MISSING_FIELD,
            "TimeInForce(59) is required on a replace: restate the order's (0 Day or 1 GTC)",
        )
    tif = _tif(f)
    _no_unsupported(f)
    _post_only(f)  # checked; the order keeps the instruction it was entered with
    return ReplaceOrder(
        session, cl_ord_id, orig_cl_ord_id, symbol, side, ord_type, tif, _qty(f), _price(f),
        _order_id(f), _stop_px(f), _expire_time(f), _expire_date(f), _max_floor(f),
    )  # fmt: skip


def _query(f: dict[str, str], session: str) -> QueryOrder:
    return QueryOrder(
        session, _required(f, "11", "ClOrdID"), _required(f, "55", "Symbol"), _side(f),
        _order_id(f), f.get("790", ""),
    )  # fmt: skip


def _mass_cancel(f: dict[str, str], session: str) -> MassCancel:
    # The kernel answers an unsupported MassCancelRequestType or symbol itself (531=0).
    return MassCancel(session, f.get("11", ""), f.get("530", ""), f.get("55", ""))


_DECODERS: dict[str, Callable[[dict[str, str], str], Command]] = {
    "D": _new_order,
    "F": _cancel,
    "G": _replace,
    "H": _query,
    "q": _mass_cancel,
}


def decode(fields: dict[str, str], session: str) -> Command:
    """A parsed D/F/G/H/q message from `session` -> the command for the kernel.

    What is FIX-valid but not acceptable here becomes a RejectMessage carrying the reason.
    Raises ValueError for any other MsgType (the gateway answers those itself).
    """
    msg_type = fields.get("35", "")
    decoder = _DECODERS.get(msg_type)
    if decoder is None:
        raise ValueError(f"MsgType(35)={msg_type} is not an order message")
    try:
        problem = bounds.check_message(fields)
        if problem is not None:
            raise _Reject(*problem)
        return decoder(fields, session)
    except _Reject as reject:
        return _reject_message(fields, session, msg_type, reject)


def _reject_message(
    f: dict[str, str], session: str, msg_type: str, reject: _Reject
) -> RejectMessage:
    # Echoed values are cleaned (bounds.echo): the reject itself must fit the journal & SQL.
    return RejectMessage(
        session=session,
        msg_type=msg_type,
        cl_ord_id=bounds.echo(f.get("11", "")),
        code=reject.code,
        text=reject.text,
        orig_cl_ord_id=bounds.echo(f.get("41", "")),
        symbol=bounds.echo(f.get("55", "")),
        side=_ANY_SIDE.get(f.get("54", "")),
        qty=bounds.echo_qty(f.get("38", "")),
        account=bounds.echo(f.get("1", "")),
        request_type=bounds.echo(f.get("530", "")),
    )


# -- encode ---------------------------------------------------------------------------------

# RejectCode name -> OrdRejReason(103) and CxlRejReason(102) on FIX 4.4. FIX 4.2 lacks 11, 13
# and 99 in 103 and everything above 3 in 102: there the nearest is "broker/exchange option"
# (103=0, 102=2). Text(58) always carries the detail. Codes missing here get 99 (4.4).
# Keyed by name so that a renamed code falls back to 99 instead of breaking the import;
# test_codec checks every name still exists.
ORD_REJ_REASONS_44 = {
    "UNKNOWN_SYMBOL": "1",
    "INVALID_QUANTITY": "13",
    "INVALID_PRICE": "99",
    "PRICE_OFF_TICK": "99",  # FIX 5.0: 18 invalid price increment
    "UNSUPPORTED_CHARACTERISTIC": "11",
    "DUPLICATE_CL_ORD_ID": "6",
    "MISSING_FIELD": "99",
    "INVALID_EXPIRY": "99",  # Text says what is wrong
    "HALTED": "2",
    "MARKET_CLOSED": "2",
    "PRICE_OUTSIDE_COLLAR": "99",  # FIX 5.0: 16 price exceeds current price band
    "EXCEEDS_MAX_QTY": "3",
    "EXCEEDS_MAX_NOTIONAL": "3",
    "EXCEEDS_CREDIT_LIMIT": "3",
    "THROTTLED": "99",
    "RESTRICTED": "0",
    "BLOCKED": "0",
    "NOT_AUTHORIZED": "0",
    "UNKNOWN_ORDER": "5",
    "TOO_LATE": "0",
    "CHANGE_NOT_ALLOWED": "99",
    "WOULD_TAKE_LIQUIDITY": "99",  # post-only; Text says so
    "NO_OPPOSITE_SIDE": "99",  # market-to-limit; Text says so
}
CXL_REJ_REASONS_44 = {
    "UNKNOWN_ORDER": "1",
    "TOO_LATE": "0",
    "DUPLICATE_CL_ORD_ID": "6",
    "HALTED": "2",
    "MARKET_CLOSED": "2",
    "THROTTLED": "2",
    "RESTRICTED": "2",
    "BLOCKED": "2",
    "NOT_AUTHORIZED": "2",
}


def _by_code(table: dict[str, str], allowed: str, fallback: str) -> dict[RejectCode, str]:
    out = {}
    for name, value in table.items():
        code = RejectCode.__members__.get(name)
        if code is not None:
            out[code] = value if value in allowed.split() else fallback
    return out


_ORD_REJ = {
    FIX44: _by_code(ORD_REJ_REASONS_44, "0 1 2 3 4 5 6 7 8 9 10 11 13 14 15 99", "99"),
    FIX42: _by_code(ORD_REJ_REASONS_44, "0 1 2 3 4 5 6 7 8", "0"),
}
_CXL_REJ = {
    FIX44: _by_code(CXL_REJ_REASONS_44, "0 1 2 3 4 5 6 99", "99"),
    FIX42: _by_code(CXL_REJ_REASONS_44, "0 1 2 3", "2"),
}
_ORD_REJ_OTHER = {FIX44: "99", FIX42: "0"}
_CXL_REJ_OTHER = {FIX44: "99", FIX42: "2"}

# FIX 5.0 SP2 (FIXT.1.1 sessions): the 4.4 reasons, plus the codes 5.0 added for what 4.4
# can only call 99: OrdRejReason 16 (price exceeds current price band) and 18 (invalid
# price increment); CxlRejReason 8 and 18 for the same on a replace.
ORD_REJ_REASONS_50 = {**ORD_REJ_REASONS_44, "PRICE_OUTSIDE_COLLAR": "16", "PRICE_OFF_TICK": "18"}
CXL_REJ_REASONS_50 = {**CXL_REJ_REASONS_44, "PRICE_OUTSIDE_COLLAR": "8", "PRICE_OFF_TICK": "18"}
_ORD_REJ[FIXT11] = _by_code(
    ORD_REJ_REASONS_50,
    "0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 18 19 20 21 22 23 24 25 26 27 28 29 99",
    "99",
)
_CXL_REJ[FIXT11] = _by_code(CXL_REJ_REASONS_50, "0 1 2 3 4 5 6 7 8 18 99", "99")
_ORD_REJ_OTHER[FIXT11] = "99"
_CXL_REJ_OTHER[FIXT11] = "99"


def ord_rej_reason(code: RejectCode, begin_string: str) -> str:
    """OrdRejReason(103) for a reject code, valid for the FIX version."""
    return _ORD_REJ[begin_string].get(code, _ORD_REJ_OTHER[begin_string])


def cxl_rej_reason(code: RejectCode, begin_string: str) -> str:
    """CxlRejReason(102) for a reject code, valid for the FIX version."""
    return _CXL_REJ[begin_string].get(code, _CXL_REJ_OTHER[begin_string])


_second: tuple[int, str] = (-1, "")


# TransactTime(60) digits after the second, by version: FIX 4.2's UTCTimestamp allows
# milliseconds at most; 4.4 gets microseconds (RTS 25). encode(..., digits=) overrides it
# per session (the session's TimestampPrecision, which sets SendingTime alike).
TIMESTAMP_DIGITS = {FIX42: 3, FIX44: 6}


def transact_time(ts: int, digits: int = 6) -> str:
    """Microseconds since the epoch (UTC) -> "YYYYMMDD-HH:MM:SS.ffffff" (digits 0, 3 or 6)."""
    global _second
    sec, usec = divmod(ts, 1_000_000)
    cached = _second
    if cached[0] != sec:
        cached = _second = (sec, time.strftime("%Y%m%d-%H:%M:%S", time.gmtime(sec)))
    if digits == 6:
        return f"{cached[1]}.{usec:06d}"
    if digits == 3:
        return f"{cached[1]}.{usec // 1000:03d}"
    return cached[1]


def _tt(ts: int, begin_string: str) -> str:
    """TransactTime for the version's default precision."""
    return transact_time(ts, TIMESTAMP_DIGITS.get(begin_string, 6))


def _order_terms(o: OrderSnapshot) -> str:
    """Account, Symbol, Side, OrderQty, OrdType, Price, TimeInForce of an order."""
    out = f"1={o.account}\x01" if o.account else ""
    out += f"55={o.symbol or '[N/A]'}\x0154={o.side.value}\x0138={o.qty}\x01"
    if o.ord_type is not None:
        out += f"40={o.ord_type.value}\x01"
    if o.price is not None:
        out += f"44={format_price(o.price)}\x01"
    if o.stop_px is not None:
        out += f"99={format_price(o.stop_px)}\x01"
    if o.post_only:
        out += "18=6\x01"
    if o.min_qty is not None:
        out += f"110={o.min_qty}\x01"
    if o.max_floor is not None:
        out += f"111={o.max_floor}\x01"
    if o.tif is not None:
        out += f"59={o.tif.value}\x01"
    if o.expire_ts is not None:
        out += f"126={transact_time(o.expire_ts)}\x01"
    if o.expire_date is not None:
        out += f"432={o.expire_date}\x01"
    return out


def _report(
    begin_string: str,
    seq: int,
    ts: int,
    o: OrderSnapshot,
    exec_type: str,
    ord_status: str,
    middle: str = "",
    text: str = "",
    exec_trans_type: str = "0",
) -> str:
    """An ExecutionReport for one order; `middle` holds the event's own fields."""
    trans = f"20={exec_trans_type}\x01" if begin_string == FIX42 else ""
    ids = f"11={o.cl_ord_id}\x01" if o.cl_ord_id else ""
    if o.orig_cl_ord_id:
        ids += f"41={o.orig_cl_ord_id}\x01"
    tail = f"58={bounds.cap_text(text)}\x01" if text else ""
    return (
        f"8={begin_string}\x019=0\x0135=8\x0137={o.order_id}\x0117={seq}\x01{trans}"
        f"150={exec_type}\x0139={ord_status}\x01{ids}{_order_terms(o)}{middle}"
        f"14={o.cum_qty}\x01151={o.leaves_qty}\x016={format_avg_price(o.cum_notional, o.cum_qty)}"
        f"\x0160={_tt(ts, begin_string)}\x01{tail}10=000\x01"
    )


def _accepted(e: OrderAccepted, v: str) -> str:
    return _report(v, e.seq, e.ts, e.order, "0", e.order.status.value)


def _rejected(e: OrderRejected, v: str) -> str:
    reason = f"103={ord_rej_reason(e.code, v)}\x01"
    return _report(v, e.seq, e.ts, e.order, "8", "8", reason, e.text)


def _filled(e: OrderFilled, v: str) -> str:
    status = e.order.status.value
    middle = f"32={e.last_qty}\x0131={format_price(e.last_px)}\x01"
    if v == FIX42:
        return _report(v, e.seq, e.ts, e.order, status, status, middle)
    middle += "851=2\x01" if e.aggressor else "851=1\x01"
    return _report(v, e.seq, e.ts, e.order, "F", status, middle)


def _canceled(e: OrderCanceled, v: str) -> str:
    return _report(v, e.seq, e.ts, e.order, "4", "4", text=e.text)


def _replaced(e: OrderReplaced, v: str) -> str:
    # FIX 4.2 reports a live replaced order as OrdStatus 5 (Replaced); 4.4 has no such status.
    o = e.order
    status = "5" if v == FIX42 and not o.status.is_done else o.status.value
    return _report(v, e.seq, e.ts, o, "5", status)


def _expired(e: OrderExpired, v: str) -> str:
    return _report(v, e.seq, e.ts, e.order, "C", "C", text="time in force ended")


# ExecRestatementReason(378): the venue changed the order (self-trade decrement).
_RESTATED_BY_VENUE = {FIX44: "8", FIX42: "4"}  # 8 market (exchange) option; 4.2: broker option
_RESTATED_BY_VENUE[FIXT11] = "8"


def _restated(e: OrderRestated, v: str) -> str:
    middle = f"378={_RESTATED_BY_VENUE[v]}\x01"
    return _report(v, e.seq, e.ts, e.order, "D", e.order.status.value, middle, e.text)


# How a stop's trigger is reported, per FIX version: (ExecType, ExecRestatementReason).
# ExecType L (triggered or activated by system) is not in QuickFIX's 4.2 or 4.4 dictionary,
# so those get D (Restated) with the same 378 as the venue's other restatements and a Text
# saying so. A version not listed (FIX 5.0 SP2 over FIXT.1.1) gets L without 378.
TRIGGER_REPORT: dict[str, tuple[str, str | None]] = {
    FIX44: ("D", _RESTATED_BY_VENUE[FIX44]),
    FIX42: ("D", _RESTATED_BY_VENUE[FIX42]),
}
_TRIGGER_OTHER = ("L", None)


def _triggered(e: OrderTriggered, v: str) -> str:
    exec_type, reason = TRIGGER_REPORT.get(v, _TRIGGER_OTHER)
    middle = f"378={reason}\x01" if reason is not None else ""
    return _report(v, e.seq, e.ts, e.order, exec_type, e.order.status.value, middle, e.text)


def _trade_canceled(e: OrderTradeCanceled, v: str) -> str:
    """A bust: ExecRefID(19) names the fill's ExecID. 4.4: ExecType H; 4.2: ExecTransType 1."""
    status = e.order.status.value
    middle = f"19={e.exec_ref}\x0132={e.last_qty}\x0131={format_price(e.last_px)}\x01"
    if v == FIX42:
        return _report(v, e.seq, e.ts, e.order, status, status, middle, e.text, "1")
    return _report(v, e.seq, e.ts, e.order, "H", status, middle, e.text)


def _status(e: OrderStatusReported, v: str) -> str:
    o = e.order
    if o is None:
        return _unknown_status(e, v)
    status = o.status.value
    if v == FIX42:
        return _report(v, e.seq, e.ts, o, status, status, exec_trans_type="3")
    # OrdStatusReqID(790) exists from FIX 4.4 on: echoed when the request carried it.
    middle = f"790={e.status_req_id}\x01" if e.status_req_id else ""
    return _report(v, e.seq, e.ts, o, "I", status, middle)


def _unknown_status(e: OrderStatusReported, v: str) -> str:
    head = "20=3\x01150=8\x01" if v == FIX42 else "150=I\x01"
    if v != FIX42 and e.status_req_id:
        head += f"790={e.status_req_id}\x01"
    # A request the edge could not read says why (OrdRejReason other); else: unknown order.
    reason = _ORD_REJ_OTHER[v] if e.text else "5"
    text = bounds.cap_text(e.text or f"unknown order {e.cl_ord_id}")
    return (
        f"8={v}\x019=0\x0135=8\x0137=NONE\x0117={e.seq}\x01{head}39=8\x01103={reason}\x01"
        f"11={e.cl_ord_id or 'NONE'}\x0155={e.symbol or '[N/A]'}\x0154={e.side.value}\x01"
        f"14=0\x01151=0\x016=0\x0160={_tt(e.ts, v)}\x01"
        f"58={text}\x0110=000\x01"
    )


def _cancel_rejected(e: CancelRejected, v: str) -> str:
    o = e.order
    if o is None:
        known = "37=NONE\x01"
        status = "8"
    else:
        known = f"37={o.order_id}\x01"
        status = o.status.value
        if o.account:
            known += f"1={o.account}\x01"
    text = f"58={bounds.cap_text(e.text)}\x01" if e.text else ""
    return (
        f"8={v}\x019=0\x0135=9\x01{known}11={e.cl_ord_id or 'NONE'}\x01"
        f"41={e.orig_cl_ord_id or 'NONE'}\x0139={status}\x01434={e.response_to}\x01"
        f"102={cxl_rej_reason(e.code, v)}\x0160={_tt(e.ts, v)}\x01{text}10=000\x01"
    )


def _mass_cancel_reported(e: MassCancelReported, v: str) -> str | None:
    if v == FIX42:
        return None  # FIX 4.2 has no OrderMassCancelReport (nor the request)
    symbol = f"55={e.symbol}\x01" if e.symbol else ""
    extra = "532=99\x01" if e.response == "0" else f"533={e.affected}\x01"
    if v == FIXT11:
        extra += f"1369={e.seq}\x01"  # MassActionReportID: required in 5.0 SP2
    text = f"58={bounds.cap_text(e.text)}\x01" if e.text else ""
    return (
        f"8={v}\x019=0\x0135=r\x0137={e.seq}\x0111={e.cl_ord_id or 'NONE'}\x01"
        f"530={e.request_type}\x01531={e.response}\x01{extra}{symbol}"
        f"60={_tt(e.ts, v)}\x01{text}10=000\x01"
    )


_ENCODERS: dict[type, Callable[[object, str], str | None]] = {
    OrderAccepted: _accepted,  # type: ignore[dict-item]
    OrderRejected: _rejected,  # type: ignore[dict-item]
    OrderFilled: _filled,  # type: ignore[dict-item]
    OrderCanceled: _canceled,  # type: ignore[dict-item]
    OrderReplaced: _replaced,  # type: ignore[dict-item]
    OrderExpired: _expired,  # type: ignore[dict-item]
    OrderStatusReported: _status,  # type: ignore[dict-item]
    CancelRejected: _cancel_rejected,  # type: ignore[dict-item]
    OrderRestated: _restated,  # type: ignore[dict-item]
    OrderTriggered: _triggered,  # type: ignore[dict-item]
    MassCancelReported: _mass_cancel_reported,  # type: ignore[dict-item]
    OrderTradeCanceled: _trade_canceled,  # type: ignore[dict-item]
}


_NOT_REPORTS = (TradeExecuted, OperatorActionApplied, TradeBusted, PhaseChanged, IndicativeChanged)


def encode(event: Event, begin_string: str, digits: int | None = None) -> str | None:
    """The full outgoing report for an event, or None when it has none for this client.

    TradeExecuted, TradeBusted and OperatorActionApplied are not reports (each side of a
    trade gets its own OrderFilled / OrderTradeCanceled); MassCancelReported has no FIX 4.2
    form.

    begin_string is "FIX.4.2", "FIX.4.4" or "FIXT.1.1" (FIX 5.0 SP2); digits, when given, is
    the session's TransactTime precision (0, 3 or 6; default TIMESTAMP_DIGITS of the
    version). BodyLength and CheckSum
    are placeholders that QuickFIX recomputes on send; the header CompIDs, MsgSeqNum and
    SendingTime are its job too.
    """
    encoder = _ENCODERS.get(type(event))
    if encoder is None:
        if type(event) in _NOT_REPORTS:
            return None
        raise TypeError(f"no FIX report for {type(event).__name__}")
    text = encoder(event, begin_string)
    default_digits = TIMESTAMP_DIGITS.get(begin_string, 6)  # what the encoder wrote
    if text is not None and digits is not None and digits != default_digits:
        ts = getattr(event, "ts", None)
        if ts is not None:  # the session's own precision: rewrite TransactTime once
            default = transact_time(ts, default_digits)
            text = text.replace(f"\x0160={default}\x01", f"\x0160={transact_time(ts, digits)}\x01")
    return text


def business_reject(
    begin_string: str,
    ref_seq_num: str,
    ref_msg_type: str,
    ref_id: str,
    reason: str,
    text: str,
) -> str:
    """A BusinessMessageReject (35=j). FIX 4.2 has reasons 0-5 only: others become 0 (other)."""
    if begin_string == FIX42 and reason not in ("0", "1", "2", "3", "4", "5"):
        reason = "0"
    ref = f"45={ref_seq_num}\x01" if ref_seq_num else ""
    ref += f"372={ref_msg_type}\x01"
    if ref_id:
        ref += f"379={ref_id}\x01"
    text = bounds.cap_text(text)
    return f"8={begin_string}\x019=0\x0135=j\x01{ref}380={reason}\x0158={text}\x0110=000\x01"


# Events whose report a drop-copy session receives: every ExecutionReport about an order
# and every OrderCancelReject (not status answers, not mass-cancel reports). By exact type.
COPIED_EVENTS = frozenset(
    (
        OrderAccepted,
        OrderRejected,
        OrderFilled,
        OrderCanceled,
        OrderReplaced,
        OrderExpired,
        OrderRestated,
        OrderTriggered,
        OrderTradeCanceled,
        CancelRejected,
    )
)


def encode_copy(
    event: Event, begin_string: str, origin: str, digits: int | None = None
) -> str | None:
    """The drop copy of an event's report: the same report with the originating session's
    CompID in OnBehalfOfCompID(115), and on FIX 4.4 ExecutionReports CopyMsgIndicator(797)=Y.

    FIX 4.4 defines 797 on ExecutionReport only: a copied OrderCancelReject is marked by 115
    alone, so that every copy is valid for its message type in the receiver's dictionary."""
    if type(event) not in COPIED_EVENTS:
        return None
    text = encode(event, begin_string, digits)
    if text is None:
        return None
    return copy_of_report(text, begin_string, origin)


def copy_of_report(report: str, begin_string: str, origin: str) -> str:
    """The drop copy made from the text `encode` gave for the event on `begin_string` (at
    the copy session's precision): what encode_copy gives, without encoding it again."""
    head, _, body = report.partition("\x0135=")
    msg_type, _, rest = body.partition("\x01")
    # FIX 4.4 and 5.0 SP2 define CopyMsgIndicator on ExecutionReport only.
    copy_flag = "797=Y\x01" if begin_string != FIX42 and msg_type == "8" else ""
    rest = rest.removesuffix("10=000\x01")
    return f"{head}\x0135={msg_type}\x01115={origin}\x01{rest}{copy_flag}10=000\x01"
