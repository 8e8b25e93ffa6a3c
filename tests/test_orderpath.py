"""The order path's CPU cuts give the same bytes as before: drop copies made from the
report text, the edge bounds' fast path, metrics counted once per batch.

The reference functions here are the code as it was before those cuts, kept verbatim."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from pathlib import Path

import pytest
from corpus import cases
from hypothesis import given, settings
from hypothesis import strategies as st

from venue.domain.codes import RejectCode
from venue.domain.commands import BustTrade, NewOrder
from venue.domain.events import Event, OrderFilled, report_session
from venue.dropcopy.catchup import firm_of
from venue.fix import bounds, codec
from venue.fix.codec import (
    COPIED_EVENTS,
    FIX42,
    FIX44,
    FIXT11,
    copy_of_report,
    decode,
    encode,
    encode_copy,
)
from venue.journal import decode_record, read_records
from venue.testing.harness import Harness

VERSIONS = (FIX42, FIX44, FIXT11)
DIGITS = (None, 0, 3, 6)
# TimestampPrecision by session: 6 as in fix_config/acceptor.cfg (CLIENT3 3), and DROPCOPY1
# (FIX.4.4 as CLIENT1) at 3: a copy that must not be made from the report's text.
LIVE_DIGITS = {"CLIENT3": 3, "DROPCOPY1": 3}


def encode_copy_before(
    event: Event, begin_string: str, origin: str, digits: int | None = None
) -> str | None:
    """venue.fix.codec.encode_copy before copies were made from the report text."""
    if type(event) not in COPIED_EVENTS:
        return None
    text = encode(event, begin_string, digits)
    if text is None:
        return None
    head, _, body = text.partition("\x0135=")
    msg_type, _, rest = body.partition("\x01")
    copy_flag = "797=Y\x01" if begin_string != FIX42 and msg_type == "8" else ""
    rest = rest.removesuffix("10=000\x01")
    return f"{head}\x0135={msg_type}\x01115={origin}\x01{rest}{copy_flag}10=000\x01"


def trade_everything(h: Harness, trader: str, other: str, tag: str) -> None:
    """One of every copied event on `trader`'s session (and fills on `other`'s)."""

    def order(session: str, cl: str, side: str, qty: int, price: str, **more: str) -> None:
        fields = {11: cl, 55: "AAPL", 54: side, 38: str(qty), 40: "2", 44: price, 59: "0"}
        fields.update({int(k[1:]): v for k, v in more.items()})
        if h.begin_string(session) == FIX42:
            fields[21] = "1"
        h.send(session, "D", fields)

    order(trader, f"{tag}a", "1", 100, "190.00")  # accepted
    order(other, f"{tag}s1", "2", 40, "190.00")  # fills both sides
    h.send(trader, "G", {11: f"{tag}a2", 41: f"{tag}a", 55: "AAPL", 54: "1", 38: "80",
                         40: "2", 44: "189.00", 59: "0", 21: "1"})  # fmt: skip
    h.send(trader, "F", {11: f"{tag}c", 41: f"{tag}a2", 55: "AAPL", 54: "1", 38: "80"})
    h.send(trader, "F", {11: f"{tag}c2", 41: "never", 55: "AAPL", 54: "1", 38: "1"})  # reject
    h.send(trader, "D", {11: f"{tag}x", 55: "NOSUCH", 54: "1", 38: "1", 40: "2", 44: "1",
                         59: "0", 21: "1"})  # fmt: skip
    # A buy stop above the last trade, triggered by a trade at its price.
    order(trader, f"{tag}st", "1", 10, "190.60", _40="4", _99="190.50")
    order(other, f"{tag}s2", "2", 30, "190.50")
    order(trader, f"{tag}b2", "1", 10, "190.50")  # trades at 190.50: the stop triggers
    # Self-trade prevention, decrement: the resting order is restated.
    order(trader, f"{tag}r", "2", 100, "191.00")
    order(trader, f"{tag}r2", "1", 40, "191.00", _7928="D")
    order(trader, f"{tag}day", "1", 5, "185.00")  # expires at the day's end


@pytest.fixture
def traded(tmp_path: Path) -> Harness:
    """A venue where order sessions of each FIX version traded, drop copies of both
    versions live: every copied event type, each reported in 4.2, 4.4 and FIXT.1.1."""
    h = Harness(tmp_path)
    h.gateway.timestamp_digits = lambda session: LIVE_DIGITS.get(session, 6)  # type: ignore[method-assign]
    for session in ("DROPCOPY", "DROPCOPY1", "DROPCOPY5", "CLIENT1", "CLIENT2", "CLIENT3",
                    "CLIENT5", "CLIENT6"):  # fmt: skip
        h.logon(session)
    trade_everything(h, "CLIENT1", "CLIENT2", "p")
    trade_everything(h, "CLIENT3", "CLIENT2", "q")
    trade_everything(h, "CLIENT5", "CLIENT6", "r")
    fills = [e for e in journaled(h) if type(e) is OrderFilled and e.order.session == "CLIENT5"]
    h.execute(BustTrade("ops", fills[0].trade_id, "test bust"))
    h.end_of_day()
    return h


def journaled(h: Harness) -> list[Event]:
    return [e for _, p in read_records(h.venue.journal_dir, after=0) for e in decode_record(p)[2]]


def test_copies_made_from_the_report_are_encode_copy_of_before_for_every_type_and_version(
    traded: Harness,
) -> None:
    events = [e for e in journaled(traded) if type(e) in COPIED_EVENTS]
    assert {type(e) for e in events} == set(COPIED_EVENTS)
    checked = 0
    for event in events:
        origin = report_session(event)
        assert origin is not None
        for version in VERSIONS:
            for digits in DIGITS:
                report = encode(event, version, digits)
                assert report is not None
                before = encode_copy_before(event, version, origin, digits)
                assert copy_of_report(report, version, origin) == before
                assert encode_copy(event, version, origin, digits) == before
                checked += 1
    assert checked == len(events) * 12


def test_the_venue_sends_each_drop_copy_session_encode_copy_of_before(traded: Harness) -> None:
    """Sessions of 4.2 (3 digits), 4.4 and FIXT.1.1 (6 digits) report; copies go to 4.4 and
    FIXT.1.1 drop copies: some are made from the report's text, some encoded anew."""
    h = traded
    events = journaled(h)
    for name, info in h.venue.drop_copies.items():
        begin = h.begin_string(name)
        want = []
        for event in events:
            origin = report_session(event)
            if type(event) in COPIED_EVENTS and origin and info.sees(firm_of(event)):
                want.append(encode_copy_before(event, begin, origin, LIVE_DIGITS.get(name, 6)))
        assert len(want) > 40
        assert h.gateway.sent_text[name] == want, name
    origins = {h.begin_string(report_session(e) or "") for e in events if type(e) in COPIED_EVENTS}
    assert origins == set(VERSIONS)


def test_reports_sent_and_rejects_are_counted_per_batch_as_they_were_per_report(
    traded: Harness,
) -> None:
    metrics = traded.venue.metrics
    sent = {
        s.labels["role"]: s.value
        for s in next(iter(metrics.reports_sent.collect())).samples
        if s.name.endswith("_total")
    }
    texts = traded.gateway.sent_text
    roles = {name: info.role.value for name, info in traded.venue.reference.sessions.items()}
    want: dict[str, float] = {}
    for session, sent_texts in texts.items():
        reports = [t for t in sent_texts if "\x0135=j\x01" not in t]  # 380s: the gateway's
        if reports:
            want[roles[session]] = want.get(roles[session], 0) + len(reports)
    assert sent == want
    rejects = {
        s.labels["code"]: s.value
        for s in next(iter(metrics.rejects.collect())).samples
        if s.name.endswith("_total")
    }
    assert rejects == {"UNKNOWN_ORDER": 3, "UNKNOWN_SYMBOL": 3}
    commands = {
        s.labels["type"]: s.value
        for s in next(iter(metrics.commands.collect())).samples
        if s.name.endswith("_total")
    }
    assert commands["NewOrder"] == 3 * 9 and commands["CancelOrder"] == 3 * 2
    assert commands["ReplaceOrder"] == 3 and commands["BustTrade"] == 1


# -- edge bounds ------------------------------------------------------------------------

_CONTROL = re.compile("[\x00-\x1f\x7f]")
_NUMBER = re.compile(r"-?([0-9]+\.?[0-9]*|\.[0-9]+)")


def check_message_before(fields: dict[str, str]) -> bounds.Problem | None:
    """venue.fix.bounds.check_message before its fast path."""
    size = 0
    for tag, value in fields.items():
        size += len(tag) + len(value) + 2
    if size > bounds.MAX_MESSAGE_BYTES:
        return RejectCode.INVALID_FIELD, (
            f"message too large: {size} bytes, at most {bounds.MAX_MESSAGE_BYTES}"
        )
    for tag, value in fields.items():
        found = _CONTROL.search(value)
        if found is not None:
            return RejectCode.INVALID_FIELD, (
                f"{bounds._name(tag)} contains a control character (0x{ord(found.group()):02X})"
            )
        limit = bounds.MAX_TEXT_LENGTH if tag in bounds.TEXT_TAGS else bounds.MAX_ID_LENGTH
        if tag in bounds._RANGED and _NUMBER.fullmatch(value):
            continue
        if len(value) > limit:
            return RejectCode.INVALID_FIELD, (
                f"{bounds._name(tag)} too long: {len(value)} characters, at most {limit}"
            )
    return _check_numbers_before(fields)


def _magnitude(text: str) -> Decimal | None:
    if not _NUMBER.fullmatch(text):
        return None
    try:
        return abs(Decimal(text))
    except InvalidOperation:
        return None


def _check_numbers_before(fields: dict[str, str]) -> bounds.Problem | None:
    msg_type = fields.get("35", "")
    qty = fields.get("38")
    if qty is not None:
        size = _magnitude(qty)
        if size is not None and size > bounds.MAX_QTY:
            return RejectCode.INVALID_QUANTITY, (
                f"quantity out of range: OrderQty(38)={bounds.short(qty)}, at most {bounds.MAX_QTY}"
            )
        if msg_type == "F" and size is not None and (qty.startswith("-") or size == 0):
            return RejectCode.INVALID_QUANTITY, (
                f"OrderQty(38)={bounds.short(qty)} on a cancel request must be positive"
            )
    price = fields.get("44")
    if price is not None:
        size = _magnitude(price)
        if size is not None and size > bounds.MAX_PRICE:
            return RejectCode.INVALID_PRICE, (
                f"price out of range: Price(44)={bounds.short(price)}, at most {bounds.MAX_PRICE}"
            )
    return bounds._check_numbers({k: v for k, v in fields.items() if k not in ("38", "44")})


def test_check_message_fast_path_answers_the_corpus_as_before() -> None:
    checked = 0
    for case in cases():
        fields = {"35": case.msg_type, "49": "CLIENT1", "56": "VENUE", "34": "2"}
        for tag, value in case.fields:
            text = value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else value
            fields[str(tag)] = text
        assert bounds.check_message(fields) == check_message_before(fields), case.name
        checked += 1
    assert checked > 200


_VALUES = st.one_of(
    st.text(alphabet=st.characters(max_codepoint=0x80), max_size=80),
    st.from_regex(r"-?[0-9]{0,16}(\.[0-9]{0,10})?", fullmatch=True),
    st.sampled_from(["0", "-0", "0.0", "1e5", "NONE", "1" * 13, "9" * 12, "9" * 9, "1" * 10]),
    st.text(min_size=60, max_size=600),
)


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from(["D", "F", "G", "H", "q"]),
    st.dictionaries(
        st.sampled_from(["11", "41", "37", "38", "44", "58", "55", "1", "9999"]),
        _VALUES,
        max_size=7,
    ),  # fmt: skip
)
def test_check_message_fast_path_answers_any_fields_as_before(
    msg_type: str, body: dict[str, str]
) -> None:
    fields = {"35": msg_type, **body}
    assert bounds.check_message(fields) == check_message_before(fields)


# -- decode -----------------------------------------------------------------------------


def new_order_before(f: dict[str, str], session: str) -> object:
    """venue.fix.codec._new_order before its path for orders without optional fields."""
    c = codec
    cl_ord_id = c._required(f, "11", "ClOrdID")
    symbol = c._required(f, "55", "Symbol")
    side = c._side(f)
    ord_type = c._ord_type(f)
    tif = c._tif(f)
    c._no_unsupported(f)
    stp = c._stp(f)
    return NewOrder(
        session, cl_ord_id, symbol, side, ord_type, tif, c._qty(f), c._price(f), f.get("1", ""),
        stp, c._stop_px(f), c._post_only(f), c._expire_time(f), c._expire_date(f),
        c._min_qty(f), c._max_floor(f), poss_resend=f.get("97") == "Y",
    )  # fmt: skip


def decode_before(fields: dict[str, str], session: str) -> object:
    try:
        problem = check_message_before(fields)
        if problem is not None:
            raise codec._Reject(*problem)
        return new_order_before(fields, session)
    except codec._Reject as reject:
        return codec._reject_message(fields, session, "D", reject)


_VALID = {  # mostly valid: most examples reach the optional fields' parsers
    "11": st.sampled_from(["o1", "o2", "o3", "", "x" * 70]),
    "55": st.sampled_from(["AAPL", "AAPL", "AAPL", ""]),
    "54": st.sampled_from(["1", "2", "1", "5"]),
    "38": st.sampled_from(["100", "100", "1.0", "-5", "abc", "1" * 14]),
    "40": st.sampled_from(["2", "2", "1", "3", "4", "K", "P"]),
}
_OPTIONAL = {
    "44": st.sampled_from(["190.01", "190.01", "1e3", "-1", "1" * 11]),
    "59": st.sampled_from(["0", "1", "3", "6", "5"]),
    "1": st.sampled_from(["ACC", ""]),
    "97": st.sampled_from(["Y", "N"]),
    "7928": st.sampled_from(["D", "Z"]),
    "99": st.sampled_from(["191.00", "x"]),
    "18": st.sampled_from(["6", "1"]),
    "126": st.sampled_from(["20301231-10:00:00", "bad"]),
    "432": st.sampled_from(["20301231", "2030"]),
    "110": st.sampled_from(["10", "1.5"]),
    "111": st.sampled_from(["10", "x"]),
    "1138": st.sampled_from(["10", "20"]),
}


@settings(max_examples=1000, deadline=None)
@given(st.fixed_dictionaries(_VALID, optional=_OPTIONAL))
def test_decode_of_a_new_order_is_as_before(body: dict[str, str]) -> None:
    fields = {"35": "D", "49": "CLIENT1", **body}
    assert decode(fields, "CLIENT1") == decode_before(fields, "CLIENT1")
