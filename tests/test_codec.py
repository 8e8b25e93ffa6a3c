"""FIX codec: raw text -> commands, events -> report text, for FIX 4.2 and 4.4.

Events come from driving the real kernel; every encoded message is completed the way
QuickFIX completes it on send (setString, header, toString) and validated against the
shipped FIX42.xml / FIX44.xml with QuickFIX's own DataDictionary.
"""

from __future__ import annotations

import re

import pytest
import quickfix as fix

from venue.domain.codes import RejectCode
from venue.domain.commands import (
    BustTrade,
    CancelOrder,
    ExpireDayOrders,
    MassCancel,
    NewOrder,
    QueryOrder,
    RejectMessage,
    ReplaceOrder,
)
from venue.domain.events import (
    CancelRejected,
    Event,
    MassCancelReported,
    OrderAccepted,
    OrderCanceled,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderReplaced,
    OrderRestated,
    OrderStatusReported,
    OrderTradeCanceled,
    TradeExecuted,
)
from venue.domain.reference import Instrument, Reference, SessionInfo, StpMode
from venue.domain.values import PRICE_SCALE, OrdType, Side, TimeInForce
from venue.fix import codec
from venue.fix.application import dictionary_dir
from venue.fix.codec import decode, encode, parse
from venue.kernel import Kernel

FIX42, FIX44 = "FIX.4.2", "FIX.4.4"
VERSIONS = [FIX42, FIX44]
TS = 1_700_000_000_123_456  # 2023-11-14 22:13:20.123456 UTC
MICROS = re.compile(r"^\d{8}-\d{2}:\d{2}:\d{2}\.\d{6}$")
_DICTIONARIES: dict[str, fix.DataDictionary] = {}


def dictionary(version: str) -> fix.DataDictionary:
    if version not in _DICTIONARIES:
        name = version.replace(".", "") + ".xml"  # FIX42.xml
        _DICTIONARIES[version] = fix.DataDictionary(str(dictionary_dir() / name))
    return _DICTIONARIES[version]


def sent(text: str, version: str) -> dict[str, str]:
    """Complete `text` as QuickFIX does on send, validate it, return its fields."""
    assert text.startswith(f"8={version}\x019=0\x0135=") and text.endswith("\x0110=000\x01")
    msg = fix.Message()
    msg.setString(text, False)
    header = msg.getHeader()
    header.setField(49, "VENUE")
    header.setField(56, "CLIENT1")
    header.setField(34, "7")
    header.setField(52, "20231114-22:13:20.123456")
    out = msg.toString()
    dictionary(version).validate(fix.Message(out, dictionary(version), True))
    # BodyLength and CheckSum were recomputed over the real bytes.
    data = out.encode()
    body_start = data.index(b"\x01", data.index(b"\x019=") + 1) + 1
    checksum_at = data.rindex(b"10=")
    fields = parse(out)
    assert int(fields["9"]) == checksum_at - body_start
    assert int(fields["10"]) == sum(data[:checksum_at]) % 256
    return fields


def raw(*pairs: tuple[str | int, str]) -> str:
    return "".join(f"{t}={v}\x01" for t, v in pairs)


def order_fields(version: str = FIX44, **tags: str | None) -> dict[str, str]:
    """A NewOrderSingle as parsed; tags by number with a leading underscore (_40="3")."""
    fields = {
        "8": version, "35": "D", "49": "CLIENT1", "56": "VENUE", "34": "2",
        "11": "o1", "55": "AAPL", "54": "1", "38": "100", "40": "2", "44": "190.01", "59": "0",
        "60": "20231114-22:13:20.000",
    }  # fmt: skip
    if version == FIX42:
        fields["21"] = "1"
    for key, value in tags.items():
        tag = key.lstrip("_")
        if value is None:
            fields.pop(tag, None)
        else:
            fields[tag] = value
    return fields


def px(text: str) -> int:
    return codec.parse_price(text)


@pytest.fixture
def kernel() -> Kernel:
    tick = PRICE_SCALE // 100
    return Kernel(
        Reference(
            {"AAPL": Instrument("AAPL", tick), "MSFT": Instrument("MSFT", tick)},
            {
                "CLIENT1": SessionInfo("CLIENT1", "FIRM1"),
                "CLIENT2": SessionInfo("CLIENT2", "FIRM2"),
                "CLIENT4": SessionInfo("CLIENT4", "FIRM1"),
            },
        )
    )


def handle(kernel: Kernel, fields: dict[str, str], session: str = "CLIENT1") -> list[Event]:
    return kernel.handle(decode(fields, session), TS)


def only(events: list[Event], kind: type, **attrs: object) -> Event:
    found = [
        e for e in events if type(e) is kind and all(getattr(e, k) == v for k, v in attrs.items())
    ]
    assert len(found) == 1, f"{kind.__name__} {attrs} in {events}"
    return found[0]


def snapshot_attr(event: Event, name: str) -> object:
    return getattr(event.order, name)  # type: ignore[union-attr]


# -- parse ----------------------------------------------------------------------------------


def test_parse_splits_on_soh_and_keeps_equals_signs_in_values() -> None:
    fields = parse(raw((8, "FIX.4.4"), (35, "D"), (58, "a=b"), (11, "x")))
    assert fields == {"8": "FIX.4.4", "35": "D", "58": "a=b", "11": "x"}


def test_parse_ignores_a_field_without_equals_sign() -> None:
    assert parse("8=FIX.4.4\x01garbage\x0111=x\x01") == {"8": "FIX.4.4", "11": "x"}


# -- decode: accepted ------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_decode_limit_order_gives_new_order_with_integer_price(version: str) -> None:
    fields = parse(raw(*order_fields(version, _1="ACC-9").items()))
    assert decode(fields, "CLIENT1") == NewOrder(
        "CLIENT1", "o1", "AAPL", Side.BUY, OrdType.LIMIT, TimeInForce.DAY, 100, px("190.01"),
        "ACC-9",
    )  # fmt: skip


@pytest.mark.parametrize("version", VERSIONS)
def test_decode_order_without_time_in_force_is_day(version: str) -> None:
    cmd = decode(order_fields(version, _59=None), "CLIENT1")
    assert isinstance(cmd, NewOrder) and cmd.tif is TimeInForce.DAY


@pytest.mark.parametrize(
    "tif", [("1", TimeInForce.GTC), ("3", TimeInForce.IOC), ("4", TimeInForce.FOK)]
)
def test_decode_supported_time_in_force(tif: tuple[str, TimeInForce]) -> None:
    cmd = decode(order_fields(_59=tif[0]), "CLIENT1")
    assert isinstance(cmd, NewOrder) and cmd.tif is tif[1]


def test_decode_market_order_passes_a_price_through_for_the_kernel_to_reject() -> None:
    cmd = decode(order_fields(_40="1", _44="190.01"), "CLIENT1")
    assert isinstance(cmd, NewOrder)
    assert (cmd.ord_type, cmd.price) == (OrdType.MARKET, px("190.01"))


def test_decode_market_order_without_price() -> None:
    cmd = decode(order_fields(_40="1", _44=None), "CLIENT1")
    assert isinstance(cmd, NewOrder) and cmd.price is None


@pytest.mark.parametrize("qty", ["100", "100.0", "100.000", "100."])
def test_decode_whole_quantity_written_with_decimals(qty: str) -> None:
    cmd = decode(order_fields(_38=qty), "CLIENT1")
    assert isinstance(cmd, NewOrder) and cmd.qty == 100


def test_decode_negative_quantity_is_left_to_the_kernel() -> None:
    cmd = decode(order_fields(_38="-5"), "CLIENT1")
    assert isinstance(cmd, NewOrder) and cmd.qty == -5


def test_decode_price_with_eight_decimals() -> None:
    cmd = decode(order_fields(_44="0.12345678"), "CLIENT1")
    assert isinstance(cmd, NewOrder) and cmd.price == 12_345_678


def test_decode_self_trade_prevention_tag() -> None:
    cmd = decode(order_fields(_7928="D"), "CLIENT1")
    assert isinstance(cmd, NewOrder) and cmd.stp is StpMode.DECREMENT


@pytest.mark.parametrize("version", VERSIONS)
def test_decode_cancel_with_our_order_id(version: str) -> None:
    fields = {
        "8": version, "35": "F", "11": "c1", "41": "o1", "55": "AAPL", "54": "2", "37": "42",
    }  # fmt: skip
    assert decode(fields, "CLIENT1") == CancelOrder("CLIENT1", "c1", "o1", "AAPL", Side.SELL, 42)


def test_decode_order_id_none_as_the_venue_sends_it_is_absent() -> None:
    fields = {"35": "F", "11": "c1", "41": "o1", "55": "AAPL", "54": "1", "37": "NONE"}
    cmd = decode(fields, "CLIENT1")
    assert isinstance(cmd, CancelOrder) and cmd.order_id is None


@pytest.mark.parametrize("order_id", ["abc", "ABC-1", "-1", "0", "9" * 40, "١٢"])
@pytest.mark.parametrize("msg_type", ["F", "G", "H"])
def test_decode_malformed_order_id_is_rejected_naming_the_field(
    order_id: str, msg_type: str
) -> None:
    fields = order_fields(FIX44, _35=msg_type, _11="c1", _41="o1", _37=order_id)
    cmd = decode(fields, "CLIENT1")
    assert isinstance(cmd, RejectMessage) and cmd.code is RejectCode.UNKNOWN_ORDER
    assert cmd.text.startswith("OrderID(37)=") and "is not an OrderID of this venue" in cmd.text


@pytest.mark.parametrize("version", VERSIONS)
def test_decode_replace(version: str) -> None:
    fields = order_fields(version, _35="G", _11="r1", _41="o1", _38="50", _44="190.02", _37="7")
    assert decode(fields, "CLIENT1") == ReplaceOrder(
        "CLIENT1", "r1", "o1", "AAPL", Side.BUY, OrdType.LIMIT, TimeInForce.DAY, 50,
        px("190.02"), 7,
    )  # fmt: skip


@pytest.mark.parametrize("version", VERSIONS)
def test_decode_status_request(version: str) -> None:
    fields = {"8": version, "35": "H", "11": "o1", "55": "AAPL", "54": "1"}
    assert decode(fields, "CLIENT1") == QueryOrder("CLIENT1", "o1", "AAPL", Side.BUY, None)


def test_decode_mass_cancel_request() -> None:
    fields = {"35": "q", "11": "m1", "530": "1", "55": "AAPL"}
    assert decode(fields, "CLIENT1") == MassCancel("CLIENT1", "m1", "1", "AAPL")


def test_decode_refuses_a_message_that_is_not_an_order_message() -> None:
    with pytest.raises(ValueError, match="MsgType"):
        decode({"35": "V"}, "CLIENT1")


# -- decode: rejected at the edge ------------------------------------------------------------

US = RejectCode.UNSUPPORTED_CHARACTERISTIC
REJECTS = [
    (
        {"_40": "P"},
        US,
        "OrdType(40)=P (pegged) is not supported: use 1 (market), 2 (limit), 3 (stop), 4 "
        "(stop limit) or K (market to limit)",
    ),
    (
        {"_40": "3", "_99": "1.123456789"},
        RejectCode.INVALID_PRICE,
        "StopPx(99)=1.123456789 is not valid",
    ),
    (
        {"_59": "5"},
        US,
        "TimeInForce(59)=5 (good till crossing) is not supported: use 0 (day), 1 (GTC), "
        "2 (at the opening), 3 (IOC), 4 (FOK), 6 (GTD) or 7 (at the close)",
    ),
    ({"_54": "5"}, US, "Side(54)=5 (sell short) is not supported: use 1 (buy) or 2 (sell)"),
    ({"_18": "A"}, US, "ExecInst(18)=A is not supported: use 6 (post only)"),
    ({"_110": "1.5"}, RejectCode.INVALID_QUANTITY, "MinQty(110)=1.5 is not valid"),
    ({"_111": "1.5"}, RejectCode.INVALID_QUANTITY, "MaxFloor(111)=1.5 is not valid"),
    ({"_126": "20231315-00:00:00"}, RejectCode.INVALID_EXPIRY, "ExpireTime(126)=20231315-00"),
    ({"_126": "20231115 00:00"}, RejectCode.INVALID_EXPIRY, "ExpireTime(126)=20231115 00:00"),
    ({"_432": "20230230"}, RejectCode.INVALID_EXPIRY, "ExpireDate(432)=20230230 is not valid"),
    ({"_7928": "X"}, US, "SelfTradePrevention(7928)=X is not supported: use R (cancel resting)"),
    ({"_38": "10.5"}, RejectCode.INVALID_QUANTITY, "OrderQty(38)=10.5 is not valid: use a whole"),
    ({"_38": "1e3"}, RejectCode.INVALID_QUANTITY, "OrderQty(38)=1e3 is not valid"),
    ({"_38": "NaN"}, RejectCode.INVALID_QUANTITY, "OrderQty(38)=NaN is not valid"),
    (
        {"_44": "abc"},
        RejectCode.INVALID_PRICE,
        "Price(44)=abc is not valid: use a decimal number with at most 8 decimals",
    ),
    ({"_44": "1.123456789"}, RejectCode.INVALID_PRICE, "Price(44)=1.123456789 is not valid"),
    ({"_44": "Infinity"}, RejectCode.INVALID_PRICE, "Price(44)=Infinity is not valid"),
    ({"_44": "1e2"}, RejectCode.INVALID_PRICE, "Price(44)=1e2 is not valid"),
    ({"_44": "1_0"}, RejectCode.INVALID_PRICE, "Price(44)=1_0 is not valid"),
    ({"_11": None}, RejectCode.MISSING_FIELD, "ClOrdID(11) is required"),
    ({"_55": None}, RejectCode.MISSING_FIELD, "Symbol(55) is required"),
    ({"_54": None}, RejectCode.MISSING_FIELD, "Side(54) is required"),
    ({"_38": None}, RejectCode.MISSING_FIELD, "OrderQty(38) is required"),
    ({"_40": None}, RejectCode.MISSING_FIELD, "OrdType(40) is required"),
]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(("tags", "code", "text"), REJECTS)
def test_decode_unacceptable_new_order_becomes_reject_message(
    version: str, tags: dict[str, str | None], code: RejectCode, text: str
) -> None:
    cmd = decode(order_fields(version, _1="ACC", **tags), "CLIENT1")
    assert isinstance(cmd, RejectMessage)
    assert (cmd.msg_type, cmd.code) == ("D", code)
    assert cmd.text.startswith(text)
    assert cmd.session == "CLIENT1" and cmd.account == "ACC"
    assert cmd.cl_ord_id == ("" if "_11" in tags else "o1")


def test_reject_message_keeps_what_could_be_read() -> None:
    cmd = decode(order_fields(_40="P", _1="ACC"), "CLIENT1")
    assert cmd == RejectMessage(
        "CLIENT1",
        "D",
        "o1",
        US,
        cmd.text,
        "",
        "AAPL",
        Side.BUY,
        100,
        "ACC",  # type: ignore[union-attr]
    )


@pytest.mark.parametrize(("sent_side", "side"), [("5", Side.SELL_SHORT), ("8", Side.CROSS)])
def test_reject_message_for_unsupported_side_keeps_the_side_sent(
    sent_side: str, side: Side
) -> None:
    cmd = decode(order_fields(_54=sent_side), "CLIENT1")
    assert isinstance(cmd, RejectMessage) and cmd.side is side


@pytest.mark.parametrize("version", VERSIONS)
def test_encode_reject_of_an_unsupported_side_echoes_it(kernel: Kernel, version: str) -> None:
    event = only(handle(kernel, order_fields(version, _54="5")), OrderRejected)
    m = sent(encode(event, version), version)  # type: ignore[arg-type]
    assert (m["150"], m["39"], m["54"]) == ("8", "8", "5")


@pytest.mark.parametrize("version", VERSIONS)
def test_decode_unacceptable_replace_becomes_reject_message_for_g(version: str) -> None:
    fields = order_fields(version, _35="G", _11="r1", _41="o1", _40="P")
    cmd = decode(fields, "CLIENT1")
    assert isinstance(cmd, RejectMessage)
    assert (cmd.msg_type, cmd.cl_ord_id, cmd.orig_cl_ord_id, cmd.code) == ("G", "r1", "o1", US)


def test_decode_cancel_with_unsupported_side_becomes_reject_message_for_f() -> None:
    fields = {"35": "F", "11": "c1", "41": "o1", "55": "AAPL", "54": "5"}
    cmd = decode(fields, "CLIENT1")
    assert isinstance(cmd, RejectMessage)
    assert (cmd.msg_type, cmd.cl_ord_id, cmd.orig_cl_ord_id) == ("F", "c1", "o1")


# -- encode: execution reports --------------------------------------------------------------


def assert_quantities_add_up(m: dict[str, str]) -> None:
    if m["39"] in ("0", "1", "5"):  # live
        assert int(m["14"]) + int(m["151"]) == int(m["38"])
    else:
        assert m["151"] == "0"


@pytest.mark.parametrize("version", VERSIONS)
def test_encode_accepted(kernel: Kernel, version: str) -> None:
    event = only(handle(kernel, order_fields(_1="ACC")), OrderAccepted)
    m = sent(encode(event, version), version)  # type: ignore[arg-type]
    assert m["35"] == "8"
    assert (m["150"], m["39"]) == ("0", "0")
    assert m.get("20") == ("0" if version == FIX42 else None)
    assert (m["37"], m["17"]) == (str(snapshot_attr(event, "order_id")), str(event.seq))
    assert (m["11"], m["1"], m["55"], m["54"], m["38"], m["40"], m["44"], m["59"]) == (
        "o1", "ACC", "AAPL", "1", "100", "2", "190.01", "0",
    )  # fmt: skip
    assert (m["14"], m["151"], m["6"]) == ("0", "100", "0")
    assert "41" not in m and "58" not in m
    # TransactTime: milliseconds on FIX 4.2 (its UTCTimestamp allows no more), µs on 4.4.
    want = "20231114-22:13:20.123" if version == FIX42 else "20231114-22:13:20.123456"
    assert m["60"] == want
    assert_quantities_add_up(m)


@pytest.mark.parametrize("version", VERSIONS)
def test_encode_rejected_by_the_kernel(kernel: Kernel, version: str) -> None:
    event = only(handle(kernel, order_fields(_55="NOPE")), OrderRejected)
    m = sent(encode(event, version), version)  # type: ignore[arg-type]
    assert (m["150"], m["39"], m["103"]) == ("8", "8", "1")  # unknown symbol
    assert m["58"] == "unknown symbol NOPE"
    assert (m["14"], m["151"]) == ("0", "0")


@pytest.mark.parametrize(("version", "reason"), [(FIX42, "0"), (FIX44, "11")])
def test_encode_rejected_at_the_edge(kernel: Kernel, version: str, reason: str) -> None:
    event = only(handle(kernel, order_fields(_40="P")), OrderRejected)
    m = sent(encode(event, version), version)  # type: ignore[arg-type]
    assert (m["150"], m["39"], m["103"]) == ("8", "8", reason)
    assert m["58"].startswith("OrdType(40)=P (pegged) is not supported")
    assert (m["11"], m["55"], m["54"], m["38"]) == ("o1", "AAPL", "1", "100")
    assert "40" not in m and "44" not in m


@pytest.mark.parametrize("version", VERSIONS)
def test_encode_fills_of_aggressor_and_resting_order(kernel: Kernel, version: str) -> None:
    handle(kernel, order_fields(_11="s1", _54="2", _38="100", _44="190.01"), "CLIENT2")
    events = handle(kernel, order_fields(_11="b1", _54="1", _38="60", _44="190.02"))
    assert encode(only(events, TradeExecuted), version) is None
    aggressor = sent(encode(only(events, OrderFilled, aggressor=True), version), version)  # type: ignore[arg-type]
    resting = sent(encode(only(events, OrderFilled, aggressor=False), version), version)  # type: ignore[arg-type]
    assert (aggressor["11"], aggressor["39"], aggressor["14"], aggressor["151"]) == (
        "b1", "2", "60", "0",
    )  # fmt: skip
    assert (resting["11"], resting["39"], resting["14"], resting["151"]) == ("s1", "1", "60", "40")
    for m in (aggressor, resting):
        assert (m["32"], m["31"], m["6"]) == ("60", "190.01", "190.01")
        assert_quantities_add_up(m)
    if version == FIX44:
        assert (aggressor["150"], resting["150"]) == ("F", "F")
        assert (aggressor["851"], resting["851"]) == ("2", "1")  # removed / added liquidity
    else:
        assert (aggressor["150"], resting["150"]) == ("2", "1")
        assert aggressor["20"] == resting["20"] == "0"
        assert "851" not in aggressor


def test_encode_average_price_over_two_fills(kernel: Kernel) -> None:
    handle(kernel, order_fields(_11="s1", _54="2", _38="1", _44="10.00"), "CLIENT2")
    handle(kernel, order_fields(_11="s2", _54="2", _38="2", _44="10.01"), "CLIENT2")
    events = handle(kernel, order_fields(_11="b1", _38="3", _44="10.01"))
    last = [e for e in events if type(e) is OrderFilled and e.aggressor][-1]
    m = sent(encode(last, FIX44), FIX44)  # type: ignore[arg-type]
    assert (m["14"], m["6"], m["31"], m["32"]) == ("3", "10.00666667", "10.01", "2")


@pytest.mark.parametrize("version", VERSIONS)
def test_encode_cancel_carries_new_and_original_cl_ord_id(kernel: Kernel, version: str) -> None:
    handle(kernel, order_fields(_11="o1"))
    cancel = {"35": "F", "11": "c1", "41": "o1", "55": "AAPL", "54": "1"}
    event = only(handle(kernel, cancel), OrderCanceled)
    m = sent(encode(event, version), version)  # type: ignore[arg-type]
    assert (m["150"], m["39"], m["11"], m["41"]) == ("4", "4", "c1", "o1")
    assert (m["14"], m["151"]) == ("0", "0")
    assert m["58"]


@pytest.mark.parametrize("version", VERSIONS)
def test_encode_ioc_remainder_cancel(kernel: Kernel, version: str) -> None:
    event = only(handle(kernel, order_fields(_59="3")), OrderCanceled)
    m = sent(encode(event, version), version)  # type: ignore[arg-type]
    assert (m["150"], m["39"], m["11"], m["59"]) == ("4", "4", "o1", "3")
    assert "41" not in m and m["58"] == "IOC remainder canceled"


@pytest.mark.parametrize(("version", "status"), [(FIX42, "5"), (FIX44, "0")])
def test_encode_replaced(kernel: Kernel, version: str, status: str) -> None:
    handle(kernel, order_fields(_11="o1", _38="100"))
    fields = order_fields(_35="G", _11="r1", _41="o1", _38="80", _44="190.01")
    event = only(handle(kernel, fields), OrderReplaced)
    m = sent(encode(event, version), version)  # type: ignore[arg-type]
    assert (m["150"], m["39"], m["11"], m["41"], m["38"]) == ("5", status, "r1", "o1", "80")
    assert (m["14"], m["151"]) == ("0", "80")


def test_encode_replaced_partially_filled_order_on_44(kernel: Kernel) -> None:
    handle(kernel, order_fields(_11="o1", _38="100"))
    handle(kernel, order_fields(_11="s1", _54="2", _38="30"), "CLIENT2")
    fields = order_fields(_35="G", _11="r1", _41="o1", _38="80")
    m = sent(encode(only(handle(kernel, fields), OrderReplaced), FIX44), FIX44)  # type: ignore[arg-type]
    assert (m["150"], m["39"], m["14"], m["151"], m["38"]) == ("5", "1", "30", "50", "80")


@pytest.mark.parametrize("version", VERSIONS)
def test_encode_expired(kernel: Kernel, version: str) -> None:
    handle(kernel, order_fields(_11="o1"))
    event = only(kernel.handle(ExpireDayOrders(TS + 1), TS + 2), OrderExpired)
    m = sent(encode(event, version), version)  # type: ignore[arg-type]
    assert (m["150"], m["39"], m["11"], m["151"]) == ("C", "C", "o1", "0")


@pytest.mark.parametrize("version", VERSIONS)
def test_encode_status_of_a_live_order(kernel: Kernel, version: str) -> None:
    handle(kernel, order_fields(_11="o1", _38="100"))
    handle(kernel, order_fields(_11="s1", _54="2", _38="30"), "CLIENT2")
    status = {"35": "H", "11": "o1", "55": "AAPL", "54": "1"}
    m = sent(encode(only(handle(kernel, status), OrderStatusReported), version), version)  # type: ignore[arg-type]
    assert (m["39"], m["14"], m["151"], m["11"]) == ("1", "30", "70", "o1")
    if version == FIX44:
        assert m["150"] == "I" and "20" not in m
    else:
        assert (m["20"], m["150"]) == ("3", "1")


@pytest.mark.parametrize("version", VERSIONS)
def test_encode_status_of_an_unknown_order(kernel: Kernel, version: str) -> None:
    status = {"35": "H", "11": "zz", "55": "AAPL", "54": "2"}
    m = sent(encode(only(handle(kernel, status), OrderStatusReported), version), version)  # type: ignore[arg-type]
    assert (m["37"], m["39"], m["103"], m["11"], m["54"]) == ("NONE", "8", "5", "zz", "2")
    assert m["58"] == "unknown order zz"
    assert m["150"] == ("I" if version == FIX44 else "8")
    assert m.get("20") == ("3" if version == FIX42 else None)


@pytest.mark.parametrize("version", VERSIONS)
def test_encode_restated_by_self_trade_decrement(kernel: Kernel, version: str) -> None:
    handle(kernel, order_fields(_11="s1", _54="2", _38="100"))
    events = handle(kernel, order_fields(_11="b1", _38="40", _7928="D"), "CLIENT4")
    m = sent(encode(only(events, OrderRestated), version), version)  # type: ignore[arg-type]
    assert (m["150"], m["39"], m["11"], m["38"], m["151"]) == ("D", "0", "s1", "60", "60")
    assert m["378"] == ("8" if version == FIX44 else "4")
    assert "self-trade" in m["58"]


@pytest.mark.parametrize("version", VERSIONS)
def test_encode_trade_bust(kernel: Kernel, version: str) -> None:
    handle(kernel, order_fields(_11="s1", _54="2", _38="100"), "CLIENT2")
    events = handle(kernel, order_fields(_11="b1", _38="40"))
    fill = only(events, OrderFilled, aggressor=True)
    busted = kernel.handle(BustTrade("ops", fill.trade_id, "fat finger"), TS)  # type: ignore[attr-defined]
    event = only(busted, OrderTradeCanceled, exec_ref=fill.seq)
    m = sent(encode(event, version), version)  # type: ignore[arg-type]
    assert (m["19"], m["32"], m["31"], m["11"]) == (str(fill.seq), "40", "190.01", "b1")
    assert "fat finger" in m["58"]
    if version == FIX44:
        assert m["150"] == "H"
    else:
        assert (m["20"], m["150"]) == ("1", m["39"])


# -- encode: cancel rejects and mass cancel --------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_encode_cancel_reject_for_unknown_order(kernel: Kernel, version: str) -> None:
    cancel = {"35": "F", "11": "c1", "41": "nope", "55": "AAPL", "54": "1"}
    m = sent(encode(only(handle(kernel, cancel), CancelRejected), version), version)  # type: ignore[arg-type]
    assert m["35"] == "9"
    assert (m["37"], m["11"], m["41"], m["39"], m["434"], m["102"]) == (
        "NONE", "c1", "nope", "8", "1", "1",
    )  # fmt: skip
    assert m["58"] == "unknown order nope"


@pytest.mark.parametrize("version", VERSIONS)
def test_encode_replace_reject_too_late(kernel: Kernel, version: str) -> None:
    handle(kernel, order_fields(_11="o1", _38="10"))
    handle(kernel, order_fields(_11="s1", _54="2", _38="10"), "CLIENT2")
    fields = order_fields(_35="G", _11="r1", _41="o1", _38="5")
    event = only(handle(kernel, fields), CancelRejected)
    m = sent(encode(event, version), version)  # type: ignore[arg-type]
    assert (m["37"], m["39"], m["434"], m["102"]) == (
        str(event.order.order_id), "2", "2", "0",  # type: ignore[union-attr]
    )  # fmt: skip


@pytest.mark.parametrize(("version", "reason"), [(FIX42, "2"), (FIX44, "6")])
def test_encode_cancel_reject_duplicate_cl_ord_id(
    kernel: Kernel, version: str, reason: str
) -> None:
    handle(kernel, order_fields(_11="o1"))
    handle(kernel, order_fields(_11="o2"))
    cancel = {"35": "F", "11": "o2", "41": "o1", "55": "AAPL", "54": "1"}
    m = sent(encode(only(handle(kernel, cancel), CancelRejected), version), version)  # type: ignore[arg-type]
    assert (m["39"], m["434"], m["102"]) == ("0", "1", reason)


@pytest.mark.parametrize("version", VERSIONS)
def test_encode_cancel_reject_from_the_edge(kernel: Kernel, version: str) -> None:
    fields = order_fields(_35="G", _11="r1", _41="o1", _59="5")
    m = sent(encode(only(handle(kernel, fields), CancelRejected), version), version)  # type: ignore[arg-type]
    assert (m["37"], m["11"], m["41"], m["39"], m["434"]) == ("NONE", "r1", "o1", "8", "2")
    assert m["102"] == ("99" if version == FIX44 else "2")
    assert m["58"].startswith("TimeInForce(59)=5 (good till crossing) is not supported")


def test_encode_mass_cancel_report(kernel: Kernel) -> None:
    handle(kernel, order_fields(_11="o1"))
    handle(kernel, order_fields(_11="o2", _55="MSFT"))
    events = handle(kernel, {"35": "q", "11": "m1", "530": "7"})
    assert len([e for e in events if type(e) is OrderCanceled]) == 2
    m = sent(encode(only(events, MassCancelReported), FIX44), FIX44)  # type: ignore[arg-type]
    assert (m["35"], m["11"], m["530"], m["531"], m["533"]) == ("r", "m1", "7", "7", "2")


def test_encode_mass_cancel_report_rejected(kernel: Kernel) -> None:
    events = handle(kernel, {"35": "q", "11": "m1", "530": "1", "55": "NOPE"})
    m = sent(encode(only(events, MassCancelReported), FIX44), FIX44)  # type: ignore[arg-type]
    assert (m["531"], m["532"], m["58"]) == ("0", "99", "unknown symbol NOPE")


def test_mass_cancel_report_has_no_fix42_form(kernel: Kernel) -> None:
    events = handle(kernel, {"35": "q", "11": "m1", "530": "7"})
    assert encode(only(events, MassCancelReported), FIX42) is None


# -- reject reason tables and business reject ------------------------------------------------


def test_every_mapped_reject_code_name_exists() -> None:
    names = set(RejectCode.__members__)
    assert set(codec.ORD_REJ_REASONS_44) <= names
    assert set(codec.CXL_REJ_REASONS_44) <= names


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("code", list(RejectCode))
def test_every_reject_code_maps_to_a_value_the_dictionary_allows(
    version: str, code: RejectCode
) -> None:
    dd = dictionary(version)
    assert dd.isFieldValue(103, codec.ord_rej_reason(code, version))
    assert dd.isFieldValue(102, codec.cxl_rej_reason(code, version))


@pytest.mark.parametrize(("version", "reason"), [(FIX42, "0"), (FIX44, "6")])
def test_business_reject_not_authorized(version: str, reason: str) -> None:
    text = codec.business_reject(version, "12", "D", "o1", "6", "session DROPCOPY is not ...")
    m = sent(text, version)
    assert (m["35"], m["45"], m["372"], m["379"], m["380"]) == ("j", "12", "D", "o1", reason)


def test_transact_time_has_microseconds_and_is_utc() -> None:
    assert codec.transact_time(0) == "19700101-00:00:00.000000"
    assert codec.transact_time(TS) == "20231114-22:13:20.123456"
    assert codec.transact_time(TS + 999_999 - 123_456) == "20231114-22:13:20.999999"
    assert codec.transact_time(TS + 1_000_000) == "20231114-22:13:21.123456"


def test_encode_refuses_an_event_it_does_not_know() -> None:
    with pytest.raises(TypeError):
        encode(object(), FIX44)  # type: ignore[arg-type]


def test_transact_time_precision_is_the_versions_unless_the_session_sets_its_own(
    kernel: Kernel,
) -> None:
    event = only(handle(kernel, order_fields()), OrderAccepted)
    assert sent(encode(event, FIX42), FIX42)["60"] == "20231114-22:13:20.123"  # type: ignore[arg-type]
    assert sent(encode(event, FIX44), FIX44)["60"] == "20231114-22:13:20.123456"  # type: ignore[arg-type]
    assert sent(encode(event, FIX44, 3), FIX44)["60"] == "20231114-22:13:20.123"  # type: ignore[arg-type]
    assert sent(encode(event, FIX42, 0), FIX42)["60"] == "20231114-22:13:20"  # type: ignore[arg-type]
    assert codec.transact_time(TS, 3) == "20231114-22:13:20.123"


def test_replace_without_time_in_force_is_rejected_naming_it() -> None:
    cmd = decode(order_fields(_35="G", _11="r1", _41="o1", _59=None), "CLIENT1")
    assert isinstance(cmd, RejectMessage) and cmd.msg_type == "G"
    assert cmd.text == (
        "TimeInForce(59) is required on a replace: restate the order's (0 Day or 1 GTC)"
    )


def test_poss_resend_flag_reaches_the_new_order_command() -> None:
    cmd = decode(order_fields(_97="Y"), "CLIENT1")
    assert isinstance(cmd, NewOrder) and cmd.poss_resend
    assert not decode(order_fields(), "CLIENT1").poss_resend  # type: ignore[union-attr]
