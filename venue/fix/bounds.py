"""Edge bounds: the largest message, id, text and number the venue accepts from a client.

Checked first thing when an order message (D F G H q) is decoded, so that whatever the
kernel journals fits both SQL stores (SQLite INTEGER and PostgreSQL BIGINT are 64-bit;
PostgreSQL text cannot hold NUL) and the FIX message log (a newline would forge a line):

    MAX_MESSAGE_BYTES  4096   all tag=value fields of one application message
    MAX_ID_LENGTH        64   ClOrdID(11), OrigClOrdID(41), OrderID(37), Account(1),
                              Symbol(55) and every other field except Text(58) and the
                              numbers OrderQty(38) and Price(44), which are held by range
    MAX_TEXT_LENGTH     512   Text(58) from a client
    MAX_OUT_TEXT        256   Text(58) the venue writes (longer texts are cut, ending "...")
    MAX_QTY   1,000,000,000,000 (10^12)  |OrderQty(38)|; a cancel's OrderQty must be > 0
    MAX_PRICE     1,000,000,000 (10^9)   |Price(44)|, i.e. 10^17 price units (1e-8 each)
    OrderID(37)  1 .. 9223372036854775807, decimal digits only, when given (NONE: absent)
    no control characters (0x00-0x1F, 0x7F) in any field value

With these bounds the largest notional (10^21, 8 decimals) fits SQL's Numeric(38, 8) and a
price fits Numeric(24, 8). A message past a bound is rejected like any other bad order
(ExecutionReport 150=8 with 103, or OrderCancelReject with 102) with a Text naming the
field and the limit; the ids it echoes are cleaned first (`echo`). The limits are written
down for clients in spec/limits.md.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from venue.domain.codes import RejectCode

MAX_MESSAGE_BYTES = 4096
MAX_ID_LENGTH = 64
MAX_TEXT_LENGTH = 512
MAX_OUT_TEXT = 256
MAX_QTY = 10**12
MAX_PRICE = 10**9
MAX_ORDER_ID = 2**63 - 1

TEXT_TAGS = frozenset(("58",))
_RANGED = frozenset(("38", "44"))  # numbers checked by range, not by length
_NAMES = {
    "1": "Account", "11": "ClOrdID", "37": "OrderID", "38": "OrderQty", "41": "OrigClOrdID",
    "44": "Price", "54": "Side", "55": "Symbol", "58": "Text",
}  # fmt: skip
_CONTROL = re.compile("[\x00-\x1f\x7f]")
_NUMBER = re.compile(r"-?([0-9]+\.?[0-9]*|\.[0-9]+)")

Problem = tuple[RejectCode, str]


def _name(tag: str) -> str:
    name = _NAMES.get(tag)
    return f"{name}({tag})" if name else f"tag {tag}"


def short(value: str, limit: int = 24) -> str:
    """A value for a reject Text: printable, at most `limit` characters."""
    value = _CONTROL.sub("?", value)
    return value if len(value) <= limit else value[: limit - 3] + "..."


def echo(value: str) -> str:
    """A client value safe to journal and send back: no control characters, at most
    MAX_ID_LENGTH characters."""
    return _CONTROL.sub("?", value)[:MAX_ID_LENGTH]


def echo_qty(text: str) -> int:
    """OrderQty(38) to echo in a reject: the number when it is a whole one in range, else 0."""
    if text.isdigit() and text.isascii() and len(text) <= 13 and int(text) <= MAX_QTY:
        return int(text)
    return 0


def cap_text(text: str) -> str:
    """A Text(58) the venue writes: at most MAX_OUT_TEXT characters, no control characters."""
    text = _CONTROL.sub("?", text)
    return text if len(text) <= MAX_OUT_TEXT else text[: MAX_OUT_TEXT - 3] + "..."


def check_message(fields: dict[str, str]) -> Problem | None:
    """Why a parsed order message breaks the edge bounds, or None. Cheap: the values are
    searched for control characters and measured all at once; only a message that has one
    or a long value goes field by field (to name the first such field)."""
    values = "".join(fields.values())
    size = len(values) + len("".join(fields)) + 2 * len(fields)
    if size > MAX_MESSAGE_BYTES:
        return RejectCode.INVALID_FIELD, (
            f"message too large: {size} bytes, at most {MAX_MESSAGE_BYTES}"
        )
    if (
        _CONTROL.search(values) is None
        and max(map(len, fields.values()), default=0) <= MAX_ID_LENGTH
    ):
        return _check_numbers(fields)  # no field can fail the loop below
    for tag, value in fields.items():
        found = _CONTROL.search(value)
        if found is not None:
            return RejectCode.INVALID_FIELD, (
                f"{_name(tag)} contains a control character (0x{ord(found.group()):02X})"
            )
        limit = MAX_TEXT_LENGTH if tag in TEXT_TAGS else MAX_ID_LENGTH
        if tag in _RANGED and _NUMBER.fullmatch(value):
            continue  # a number of any length gets "out of range" (_check_numbers)
        if len(value) > limit:
            return RejectCode.INVALID_FIELD, (
                f"{_name(tag)} too long: {len(value)} characters, at most {limit}"
            )
    return _check_numbers(fields)


def _magnitude(text: str) -> Decimal | None:
    """|value| of a FIX number, None when it is not one (the decoder names that)."""
    if not _NUMBER.fullmatch(text):
        return None
    try:
        return abs(Decimal(text))
    except InvalidOperation:
        return None


# A FIX number of at most this many characters is below the bound whatever it says.
_SHORT_QTY = len(str(MAX_QTY)) - 1
_SHORT_PRICE = len(str(MAX_PRICE)) - 1


def _check_numbers(fields: dict[str, str]) -> Problem | None:
    msg_type = fields.get("35", "")
    qty = fields.get("38")
    if qty is not None and (len(qty) > _SHORT_QTY or msg_type == "F"):
        size = _magnitude(qty)
        if size is not None and size > MAX_QTY:
            return RejectCode.INVALID_QUANTITY, (
                f"quantity out of range: OrderQty(38)={short(qty)}, at most {MAX_QTY}"
            )
        if msg_type == "F" and size is not None and (qty.startswith("-") or size == 0):
            return RejectCode.INVALID_QUANTITY, (
                f"OrderQty(38)={short(qty)} on a cancel request must be positive"
            )
    price = fields.get("44")
    if price is not None and len(price) > _SHORT_PRICE:
        size = _magnitude(price)
        if size is not None and size > MAX_PRICE:
            return RejectCode.INVALID_PRICE, (
                f"price out of range: Price(44)={short(price)}, at most {MAX_PRICE}"
            )
    if msg_type in ("F", "G", "H"):
        order_id = fields.get("37")
        # "NONE" is what the venue itself sends for an order it does not know: absent.
        if order_id is not None and order_id != "NONE" and not _valid_order_id(order_id):
            return RejectCode.UNKNOWN_ORDER, (
                f"OrderID(37)={short(order_id)} is not an OrderID of this venue: "
                f"a whole number from 1 to {MAX_ORDER_ID}"
            )
    if msg_type in ("F", "G"):
        cl, orig = fields.get("11"), fields.get("41")
        if cl and cl == orig:
            return RejectCode.DUPLICATE_CL_ORD_ID, (
                f"ClOrdID(11) must differ from OrigClOrdID(41): both are {short(cl)}"
            )
    return None


def _valid_order_id(text: str) -> bool:
    return text.isdigit() and text.isascii() and len(text) <= 19 and 0 < int(text) <= MAX_ORDER_ID


def order_id(text: str | None) -> int | None:
    """OrderID(37) as a number (check_message has refused a malformed one)."""
    if text is not None and _valid_order_id(text):
        return int(text)
    return None
