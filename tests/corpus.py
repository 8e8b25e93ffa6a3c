"""A generated corpus of malformed order-entry input, each message with its expected answer.

    cases()        -> list[Case]      in-session messages (sent on one logged-on session)
    breaking()     -> list[Breaking]  messages after which the venue ends the session
    python tests/corpus.py            prints the corpus, one line a message, and the counts

Expected classes of answer (`Case.expect`):

    session_reject   35=3, RefSeqNum(45) = the message's MsgSeqNum (QuickFIX's dictionary)
    business_reject  35=j, RefSeqNum(45) = the message's MsgSeqNum
    order_reject     35=8 150=8 39=8 with OrdRejReason(103) and a Text
    cancel_reject    35=9 with CxlRejReason(102) and a Text
    status_unknown   35=8 (150=I) 37=NONE 39=8 with 103 and a Text
    mass_reject      35=r 531=0 (rejected) with a Text
    ignored          nothing (a garbled message QuickFIX drops; its MsgSeqNum is not used)

and for a Breaking message: `logout` (a Logout arrives, then the connection closes) or
`disconnect` (closed without a Logout).

Areas: framing (checksum, body length, garbage), header (missing or bad header fields,
order of fields), body per message type (D F G H q: every field missing, empty, of the
wrong type, out of its enumeration, repeated, too long, with control characters) and
business nonsense (unknown symbols and orders, quantities and prices out of range, off
tick, outside the collar, changes a replace cannot make). Cases that name an existing
order use LIVE, a resting buy of CLIENT1 that no case may change.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, replace

LIVE = "live1"  # a resting CLIENT1 buy: 10 AAPL at 189
LIVE_PX = "189"
SOH = b"\x01"

Value = str | bytes
Fields = tuple[tuple[int, Value], ...]


@dataclass(frozen=True)
class Case:
    name: str
    msg_type: str
    fields: Fields  # body fields, in order (the client adds the header)
    expect: str
    echo: str = ""  # the ClOrdID the answer carries (8, 9, r)
    raw: Callable[[int, str], bytes] | None = None  # framing: whole message from (seq, now)


@dataclass(frozen=True)
class Breaking:
    name: str
    raw: Callable[[int, str, str], bytes]  # (seq, sender, now) -> bytes
    expect: str  # logout | disconnect


_n = itertools.count(1)


def _cl() -> str:
    return f"k{next(_n)}"


def frame(body: bytes, begin: bytes = b"FIX.4.4", length: bytes | None = None) -> bytes:
    """8=..|9=len|body|10=checksum| with a correct (or the given) BodyLength."""
    head = b"8=" + begin + SOH + b"9=" + (length or str(len(body)).encode()) + SOH
    data = head + body
    return data + b"10=%03d" % (sum(data) % 256) + SOH


def header(seq: int, now: str, sender: str = "CLIENT1", msg_type: str = "D") -> bytes:
    return f"35={msg_type}\x0149={sender}\x0156=VENUE\x0134={seq}\x0152={now}\x01".encode()


# -- base messages ------------------------------------------------------------------------

ORDER_TYPES = {
    "D": lambda cl: [(11, cl), (55, "AAPL"), (54, "1"), (60, "T"), (40, "2"), (38, "10"),
                     (44, "189"), (59, "0")],
    "F": lambda cl: [(11, cl), (41, LIVE), (55, "AAPL"), (54, "1"), (60, "T")],
    "G": lambda cl: [(11, cl), (41, LIVE), (55, "AAPL"), (54, "1"), (60, "T"), (40, "2"),
                     (38, "10"), (44, "189"), (59, "0")],
    "H": lambda cl: [(11, cl), (55, "AAPL"), (54, "1")],
    "q": lambda cl: [(11, cl), (530, "1"), (55, "AAPL"), (60, "T")],
}  # fmt: skip
# What the venue answers to a message of this type it reads but refuses.
VENUE_ANSWER = {
    "D": "order_reject",
    "F": "cancel_reject",
    "G": "cancel_reject",
    "H": "status_unknown",
    "q": "mass_reject",
}
# Fields the FIX 4.4 dictionary requires, per message type (missing -> 35=3 373=1).
# Symbol(55) is not among them (it sits in an optional component): the venue names it.
REQUIRED = {
    "D": {11, 54, 60, 40},
    "F": {11, 41, 54, 60},
    "G": {11, 41, 54, 60, 40},
    "H": {11, 54},
    "q": {11, 530, 60},
}
# Fields whose value the dictionary types: a value of the wrong type -> 35=3 373=6,
# a value outside the enumeration -> 373=5.
NUMERIC = {38, 44, 530}
ENUMS = {54: "Z", 40: "Z", 59: "Z", 530: "9"}
TIMESTAMPS = {60}


def _with(fields: list, tag: int, value: Value | None) -> Fields:
    out = []
    for t, v in fields:
        if t == tag:
            if value is not None:
                out.append((t, value))
        else:
            out.append((t, v))
    return tuple(out)


def _body_cases() -> list[Case]:
    out: list[Case] = []
    for msg_type, base in ORDER_TYPES.items():
        venue = VENUE_ANSWER[msg_type]
        for tag, _ in base(""):
            cl = _cl()
            fields = base(cl)
            # missing
            if tag == 59 and msg_type in ("D", "G"):
                pass  # absent TimeInForce is Day: not malformed
            elif tag in REQUIRED[msg_type]:
                expect = "session_reject"
            elif msg_type == "q" and tag == 55:
                expect = "mass_reject"  # by symbol without a symbol
            else:
                expect = venue
            echo = cl if tag != 11 else ""
            if not (tag == 59 and msg_type in ("D", "G")):
                out.append(Case(f"{msg_type} without {tag}", msg_type, _with(fields, tag, None),
                                expect, echo))  # fmt: skip
            # repeated
            cl = _cl()
            fields = list(base(cl))
            fields.append((tag, dict(fields)[tag]))
            out.append(Case(f"{msg_type} with {tag} twice", msg_type, tuple(fields),
                            "session_reject"))  # fmt: skip
            # empty value
            cl = _cl()
            out.append(Case(f"{msg_type} with empty {tag}", msg_type, _with(base(cl), tag, b""),
                            "session_reject"))  # fmt: skip
            # wrong type / out of enumeration
            if tag in NUMERIC:
                for bad in ("abc", "1e5", "--1", "1.2.3"):
                    cl = _cl()
                    out.append(Case(f"{msg_type} with {tag}={bad}", msg_type,
                                    _with(base(cl), tag, bad), "session_reject"))  # fmt: skip
            if tag in ENUMS:
                cl = _cl()
                out.append(Case(f"{msg_type} with {tag}={ENUMS[tag]}", msg_type,
                                _with(base(cl), tag, ENUMS[tag]), "session_reject"))  # fmt: skip
            if tag in TIMESTAMPS:
                for bad in ("notatime", "20240101", "20241301-25:61:61"):
                    cl = _cl()
                    out.append(Case(f"{msg_type} with {tag}={bad}", msg_type,
                                    _with(base(cl), tag, bad), "session_reject"))  # fmt: skip
            # string fields: too long, control characters (the venue's own bounds)
            if tag in (11, 41, 55):
                for label, bad in (("65 chars", "x" * 65), ("3000 chars", "y" * 3000)):
                    cl = _cl()
                    value = bad if tag != 11 else bad
                    echo = cl if tag != 11 else bad[:64]
                    expect = venue
                    out.append(Case(f"{msg_type} with {tag} of {label}", msg_type,
                                    _with(base(cl), tag, value), expect, echo))  # fmt: skip
                for ch in (0, 2, 9, 10, 13, 27, 31, 127):  # not 1: SOH ends the field
                    cl = _cl()
                    raw_value = f"a{chr(ch)}b"
                    echo = cl if tag != 11 else "a?b" + str(ch)
                    value = raw_value.encode() if tag != 11 else f"a{chr(ch)}b{ch}".encode()
                    out.append(Case(f"{msg_type} with 0x{ch:02X} in {tag}", msg_type,
                                    _with(base(cl), tag, value), venue, echo))  # fmt: skip
        # a Text the venue refuses: control characters, too long, a message too large
        for label, text in (("NUL", b"a\x00b"), ("newline", b"a\nb"), ("513 chars", "t" * 513),
                            ("5000 chars", "t" * 5000)):  # fmt: skip
            cl = _cl()
            # Text(58) is not a field of OrderStatusRequest: 35=3 373=2 before the venue
            expect = "session_reject" if msg_type == "H" else venue
            out.append(Case(f"{msg_type} with Text of {label}", msg_type,
                            (*base(cl), (58, text)), expect, cl))  # fmt: skip
        # a user-defined tag the venue's dictionary does not define is refused by the
        # session layer (ValidateUserDefinedFields=Y: 35=3 373=0), whatever its value
        cl = _cl()
        out.append(Case(f"{msg_type} with NUL in tag 5001", msg_type,
                        (*base(cl), (5001, b"\x00")), "session_reject", cl))  # fmt: skip
    return out


def _business_cases() -> list[Case]:
    out: list[Case] = []
    d, f, g = ORDER_TYPES["D"], ORDER_TYPES["F"], ORDER_TYPES["G"]

    def add(name: str, msg_type: str, fields: Fields, expect: str, echo: str) -> None:
        out.append(Case(name, msg_type, fields, expect, echo))

    d_changes = {
        "unknown symbol": (55, "NOPE"), "qty 0": (38, "0"), "qty -1": (38, "-1"),
        "qty 1.5": (38, "1.5"), "qty 30 digits": (38, "1" * 30),
        "qty 1000 digits": (38, "9" * 1000),
        "qty over max": (38, "100001"), "price 0": (44, "0"), "price -1": (44, "-1"),
        "price off tick": (44, "189.001"), "price 9 decimals": (44, "189.000000001"),
        "price outside collar": (44, "500"), "price 30 digits": (44, "1" * 30),
        "price 1000 digits": (44, "9" * 1000), "tif at the opening": (59, "2"),
        "tif GTD": (59, "6"), "side sell short": (54, "5"), "side cross": (54, "8"),
        "stop order": (40, "3"), "pegged": (40, "P"),
    }  # fmt: skip
    for name, (tag, value) in d_changes.items():
        cl = _cl()
        add(f"D {name}", "D", _with(d(cl), tag, value), "order_reject", cl)
    for name, extra in {
        "ExecInst": (18, "1"), "MinQty": (110, "5"), "MaxFloor 0": (111, "0"), "StopPx": (99, "1"),
        "ExpireTime": (126, "20990101-00:00:00"), "ExpireDate": (432, "20990101"),
        "STP mode Q": (7928, "Q"),
    }.items():  # fmt: skip
        cl = _cl()
        add(f"D with {name}", "D", (*d(cl), extra), "order_reject", cl)
    cl = _cl()
    add("D market with price", "D", _with(_with(d(cl), 40, "1"), 59, "3"), "order_reject", cl)
    cl = _cl()
    add("D limit without price", "D", _with(d(cl), 44, None), "order_reject", cl)
    add("D duplicate live ClOrdID", "D", d(LIVE), "order_reject", LIVE)

    for msg_type, base in (("F", f), ("G", g)):
        changes = {
            "unknown order": (41, "nosuch"), "other side": (54, "2"), "other symbol": (55, "MSFT"),
            "OrderID abc": (37, "abc"), "OrderID -1": (37, "-1"), "OrderID 0": (37, "0"),
            "OrderID 40 digits": (37, "9" * 40), "OrderID of no order": (37, "987654321"),
            "side sell short": (54, "5"),
        }  # fmt: skip
        if msg_type == "F":
            changes |= {"qty -5": (38, "-5"), "qty 0": (38, "0"), "qty 30 digits": (38, "1" * 30)}
        else:
            changes |= {
                "qty 0": (38, "0"), "qty -5": (38, "-5"), "qty 30 digits": (38, "1" * 30),
                "price off tick": (44, "189.001"), "price outside collar": (44, "500"),
                "price 30 digits": (44, "1" * 30), "market": (40, "1"), "IOC": (59, "3"),
                "FOK": (59, "4"), "qty over max": (38, "100001"),
            }  # fmt: skip
        for name, (tag, value) in changes.items():
            cl = _cl()
            fields = base(cl)
            if tag not in dict(fields):
                fields = (*fields, (tag, value))
            add(f"{msg_type} {name}", msg_type, _with(list(fields), tag, value),
                "cancel_reject", cl)  # fmt: skip
        add(f"{msg_type} ClOrdID equal to OrigClOrdID", msg_type, base(LIVE), "cancel_reject",
            LIVE)  # fmt: skip
        cl = _cl()
        # ExecInst(18) is not a field of OrderCancelRequest: 35=3 373=2 before the venue
        expect = "session_reject" if msg_type == "F" else "cancel_reject"
        add(f"{msg_type} with ExecInst", msg_type, (*base(cl), (18, "1")), expect, cl)

    h = ORDER_TYPES["H"]
    for name, fields in {
        "unknown order": _with(h("nosuch"), 11, "nosuch"),
        "OrderID abc": (*h(LIVE), (37, "abc")),
        "OrderID 40 digits": (*h(LIVE), (37, "9" * 40)),
        "OrderID of no order": (*h(LIVE), (37, "987654321")),
        "side cross short": _with(h(LIVE), 54, "9"),
        "other symbol": _with(h(LIVE), 55, "MSFT"),
    }.items():
        echo = dict(fields)[11]
        expect = "status_unknown"
        if name == "other symbol":
            continue  # the venue answers by ClOrdID: a known order, reported as it is
        add(f"H {name}", "H", tuple(fields), expect, str(echo))

    q = ORDER_TYPES["q"]
    for name, fields in {
        "unknown symbol": _with(q(""), 55, "NOPE"),
        "type 5 (by product)": _with(q(""), 530, "5"),
        "type 4 (by CFI)": _with(q(""), 530, "4"),
    }.items():
        cl = _cl()
        add(f"q {name}", "q", _with(list(fields), 11, cl), "mass_reject", cl)

    # application messages the venue does not serve: BusinessMessageReject 380=3
    for msg_type, fields in {
        "x": ((320, "l1"), (559, "0")),  # SecurityListRequest
        "R": ((131, "qr1"), (146, "1"), (55, "AAPL")),  # QuoteRequest
        "c": ((320, "sd1"), (321, "0")),  # SecurityDefinitionRequest
        "AF": ((584, "m1"), (585, "1")),  # OrderMassStatusRequest
        "E": ((66, "l1"), (394, "3"), (68, "1"), (73, "1"), (11, "e1"), (67, "1"), (55, "AAPL"),
              (54, "1"), (40, "2")),  # NewOrderList
    }.items():  # fmt: skip
        out.append(Case(f"unsupported {msg_type}", msg_type, fields, "business_reject"))
    # message types no FIX version defines
    for msg_type in ("ZZ", "zz", "99"):
        out.append(Case(f"undefined MsgType {msg_type}", msg_type, (), "session_reject"))
    return out


def _header_cases() -> list[Case]:
    """Header fields wrong in ways QuickFIX answers with a Reject and keeps the session."""
    out: list[Case] = []
    for name, body in {
        "header field after the body": lambda seq, now, cl: (
            f"35=D\x0149=CLIENT1\x0156=VENUE\x0134={seq}\x01"
            f"11={cl}\x0152={now}\x0155=AAPL\x0154=1\x0160={now}\x0140=2\x0138=1\x0144=189\x01"
        ),
        "tag 0": lambda seq, now, cl: (
            header(seq, now).decode() + f"11={cl}\x010=x\x0155=AAPL\x0154=1\x0160={now}\x01"
            "40=2\x0138=1\x0144=189\x01"
        ),
        "negative tag": lambda seq, now, cl: (
            header(seq, now).decode() + f"11={cl}\x01-5=x\x0155=AAPL\x0154=1\x0160={now}\x01"
            "40=2\x0138=1\x0144=189\x01"
        ),
    }.items():
        cl = _cl()
        out.append(
            Case(f"header: {name}", "D", (), "session_reject", "",
                 raw=lambda seq, now, body=body, cl=cl: frame(body(seq, now, cl).encode()))
        )  # fmt: skip
    return out


def _framing_cases() -> list[Case]:
    """Garbled messages: QuickFIX drops them without an answer (their MsgSeqNum unused)."""
    out: list[Case] = []

    def order(seq: int, now: str) -> bytes:
        return header(seq, now) + (
            f"11={_cl()}\x0155=AAPL\x0154=1\x0160={now}\x0140=2\x0138=1\x0144=189\x01".encode()
        )

    def bad_checksum(seq: int, now: str) -> bytes:
        data = frame(order(seq, now))
        return data[:-4] + b"%03d" % ((int(data[-4:-1]) + 1) % 256) + SOH

    def short_checksum(seq: int, now: str) -> bytes:
        data = frame(order(seq, now))
        return data[:-7] + b"10=1" + SOH

    def body_length_short(seq: int, now: str) -> bytes:
        body = order(seq, now)
        return frame(body, length=str(len(body) - 5).encode())

    def tag_not_a_number(seq: int, now: str) -> bytes:
        return frame(header(seq, now) + f"11={_cl()}\x01ab=x\x0155=AAPL\x01".encode())

    for name, raw in {
        "tag not a number": tag_not_a_number,
        "checksum off by one": bad_checksum,
        "checksum of one digit": short_checksum,
        "BodyLength 5 short": body_length_short,
    }.items():
        for i in range(3):
            out.append(Case(f"framing: {name} #{i + 1}", "D", (), "ignored", raw=raw))
    return out


def _raw_line_break(case: Case) -> bool:
    return any(
        (b"\n" in v or b"\r" in v) if isinstance(v, bytes) else ("\n" in v or "\r" in v)
        for _, v in case.fields
        if isinstance(v, str | bytes)
    )


def cases() -> list[Case]:
    # A raw CR or LF would forge a line in QuickFIX's message log: the gatekeeper's hop
    # drops such a message before QuickFIX reads it (its MsgSeqNum is not used).
    return [
        replace(case, expect="ignored") if _raw_line_break(case) else case
        for case in _framing_cases() + _header_cases() + _body_cases() + _business_cases()
    ]


def breaking() -> list[Breaking]:
    """Messages after which the venue ends the session (each on a fresh connection)."""

    def order(seq: int, sender: str, now: str, **over: str) -> bytes:
        head = {"35": "D", "49": sender, "56": "VENUE", "34": str(seq), "52": now} | over
        text = "".join(f"{t}={v}\x01" for t, v in head.items())
        text += f"11={_cl()}\x0155=AAPL\x0154=1\x0160={now}\x0140=2\x0138=1\x0144=189\x01"
        return text.encode()

    def logon(seq: int, sender: str, now: str) -> bytes:
        return frame(header(seq, now, sender, "A") + b"98=0\x01108=30\x01")

    return [
        Breaking("MsgSeqNum too low", lambda seq, s, now: frame(order(1, s, now)), "logout"),
        Breaking(
            "wrong TargetCompID",
            lambda seq, s, now: frame(order(seq, s, now, **{"56": "NOTUS"})),
            "logout",
        ),
        Breaking(
            "wrong SenderCompID",
            lambda seq, s, now: frame(order(seq, s, now, **{"49": "CLIENT2"})),
            "logout",
        ),
        Breaking(
            "SendingTime years off",
            lambda seq, s, now: frame(order(seq, s, "20000101-00:00:00.000")),
            "logout",
        ),
        Breaking(
            "BeginString FIX.4.2",
            lambda seq, s, now: frame(order(seq, s, now), begin=b"FIX.4.2"),
            "logout",
        ),
        Breaking("Logon again", logon, "disconnect"),
    ]


if __name__ == "__main__":
    from collections import Counter

    corpus = cases()
    for case in corpus:
        print(f"{case.expect:16} {case.name}")
    for item in breaking():
        print(f"{item.expect:16} {item.name} (ends the session)")
    counts = Counter(c.expect for c in corpus)
    print(f"{len(corpus)} in-session messages, {len(breaking())} that end the session: "
          + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))  # fmt: skip
