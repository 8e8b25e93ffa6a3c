"""Market-data messages <-> values, for FIX 4.2 and 4.4. Pure functions, no quickfix.

    decode_md_request(raw) -> MDRequest | MDReject      MarketDataRequest (V)
    snapshot(...) / incremental(...) / md_reject(...)   W, X, Y
    security_list(...) (4.4 y), security_definitions(...) (4.2 d), security_status(...) (f)

The per-symbol sequence is MDSeqNum(20083), a field of the venue's own dictionaries
(venue/fix/dictionaries/FIX44MD.xml, FIX42MD.xml; scripts/md_dictionaries.py): on the W
(the sequence the snapshot reflects; its entries are all as of it) and on every X entry.
FIX 4.x has no RptSeq there.
On FIXT.1.1 (FIX 5.0 SP2) the standard RptSeq(83) is on every W and X entry instead, the
W carries LastUpdateTime(779) and an empty book is one MDEntryType J entry.
Output follows codec.py's conventions: BodyLength 0 and CheckSum 000 placeholders, no
header fields QuickFIX fills. spec/market-data.md.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from venue.domain.reference import Instrument
from venue.domain.values import Side, format_price
from venue.fix.codec import FIX42, FIXT11, SOH, transact_time
from venue.marketdata.book import (
    DELETE,
    OPEN,
    VOLUME,
    IndicativeEntry,
    Level,
    LevelEntry,
    Snapshot,
    StatEntry,
    TradeEntry,
)

MD_SEQ = 20083  # MDSeqNum: the venue's per-symbol market-data sequence on FIX 4.x
# MarketDataRequest, SecurityListRequest, SecurityDefinitionRequest, SecurityStatusRequest
MD_MSG_TYPES = frozenset(("V", "x", "c", "e"))
# Messages of the feed: never resent after a reconnect (a gap fill instead).
FEED_MSG_TYPES = frozenset(("W", "X", "Y", "f", "y", "d"))

BID, OFFER, TRADE = "0", "1", "2"
SNAPSHOT, SUBSCRIBE, UNSUBSCRIBE = "0", "1", "2"  # SubscriptionRequestType(263)

# MDReqRejReason(281), all defined in FIX 4.2 already.
UNKNOWN_SYMBOL = "0"
DUPLICATE_MD_REQ_ID = "1"
TOO_MANY_SUBSCRIPTIONS = "2"
UNSUPPORTED_DEPTH = "5"
UNSUPPORTED_UPDATE_TYPE = "6"
UNSUPPORTED_AGGREGATED_BOOK = "7"
UNSUPPORTED_ENTRY_TYPE = "8"

# Entry types served: bids, offers, trades and the session statistics (opening price,
# high, low; trade volume "B" exists from FIX 4.4 on: on 4.2 the volume is
# TotalVolumeTraded(387) on the W).
# During a call the indicative auction figures: 4.4 imbalance A; 5.0 SP2 auction clearing
# price Q and imbalance A; 4.2 has neither (spec/auctions.md, "Market data").
_SERVED = {FIX42: frozenset("012478"), "FIX.4.4": frozenset("012478AB"),
           FIXT11: frozenset("012478ABQ")}  # fmt: skip
AUCTION_TYPES = frozenset("AQ")
RPT_SEQ = 83  # RptSeq: the same sequence on FIX 5.0 SP2 (FIXT.1.1), where it is standard
_TRADING, _HALTED, _RESUMED = "17", "2", "3"  # SecurityTradingStatus(326)
_NOT_AVAILABLE = "18"  # closed
# In a call: 21 pre-open from FIX 4.4 on; 4.2 has no 21: 1 (opening delay).
_IN_CALL = {FIX42: "1", "FIX.4.4": "21", FIXT11: "21"}
# TradingSessionSubID(625): free text in 4.4, an enum in 5.0 SP2 (2 opening auction,
# 3 continuous, 4 closing auction, 9 unscheduled intraday auction); 4.2's f has no 625.
_SUB_ID_50 = {"pre-open": "2", "continuous": "3", "pre-close": "4", "call": "9"}
_CALLS = ("pre-open", "pre-close", "call")
_HALT_REASON = "M"  # HaltReasonChar(327) "Additional information" (an operator's halt)

_FIELD = re.compile("([^=\x01]*)=([^\x01]*)\x01")


def pairs(raw: str) -> list[tuple[str, str]]:
    """Every tag=value in order (repeating groups kept, unlike codec.parse)."""
    return _FIELD.findall(raw)


@dataclass(frozen=True, slots=True)
class MDRequest:
    req_id: str
    kind: str  # SNAPSHOT, SUBSCRIBE, UNSUBSCRIBE
    depth: int  # 0 full book, N levels
    entry_types: frozenset[str]
    symbols: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class MDReject:
    req_id: str
    reason: str | None  # MDReqRejReason, None when no code fits (an unknown MDReqID)
    text: str


def decode_md_request(raw: str, begin_string: str, known: Iterable[str]) -> MDRequest | MDReject:
    """A MarketDataRequest, or why it is refused. QuickFIX has checked its form."""
    fields = pairs(raw)
    single = dict(fields)
    req_id = single.get("262", "")
    kind = single.get("263", "")
    if kind == UNSUBSCRIBE:
        return MDRequest(req_id, kind, 0, frozenset(), ())
    depth_text = single.get("264", "")
    if not depth_text.lstrip("-").isdigit() or int(depth_text) < 0:
        return MDReject(req_id, UNSUPPORTED_DEPTH, f"MarketDepth(264)={depth_text}: use 0 "
                        "(full book), 1 (top of book) or a number of price levels")  # fmt: skip
    if kind == SUBSCRIBE and single.get("265", "1") != "1":
        return MDReject(req_id, UNSUPPORTED_UPDATE_TYPE, f"MDUpdateType(265)={single['265']}: "
                        "only 1 (incremental refresh) is served")  # fmt: skip
    if single.get("266", "Y") != "Y":
        why = "AggregatedBook(266)=N: only the book by price level is served"
        return MDReject(req_id, UNSUPPORTED_AGGREGATED_BOOK, why)
    entry_types = [v for t, v in fields if t == "269"]
    served = _SERVED.get(begin_string, _SERVED["FIX.4.4"])
    unserved = [t for t in entry_types if t not in served]
    if unserved:
        return MDReject(req_id, UNSUPPORTED_ENTRY_TYPE, f"MDEntryType(269)={unserved[0]} is "
                        f"not served; served: {', '.join(sorted(served))}")  # fmt: skip
    symbols = tuple(dict.fromkeys(v for t, v in fields if t == "55"))  # each once
    known = set(known)
    for symbol in symbols:
        if symbol not in known:
            return MDReject(req_id, UNKNOWN_SYMBOL, f"unknown symbol {symbol}")
    if not symbols:
        return MDReject(req_id, UNKNOWN_SYMBOL, "no Symbol(55) in NoRelatedSym(146)")
    return MDRequest(req_id, kind, int(depth_text), frozenset(entry_types), symbols)


# -- W, X, Y ------------------------------------------------------------------------------


def _date_time(ts: int) -> str:
    """MDEntryDate(272) and MDEntryTime(273) of a microsecond timestamp."""
    stamp = transact_time(ts)  # YYYYMMDD-HH:MM:SS.ffffff
    return f"272={stamp[:8]}\x01273={stamp[9:21]}\x01"


def _level(entry_type: str, level: Level, position: int) -> str:
    return (
        f"269={entry_type}\x01270={format_price(level.price)}\x01271={level.qty}\x01"
        f"346={level.orders}\x01290={position}\x01"
    )


def snapshot(
    begin_string: str, req_id: str, snap: Snapshot, entry_types: frozenset[str], depth: int
) -> str:
    """A MarketDataSnapshotFullRefresh of one symbol: levels (best first, position 1 is
    the touch), the last trade and the statistics asked for. MDSeqNum on the message is the
    sequence it reflects; the first X entry after it has the next one."""
    entries: list[str] = []
    seq = snap.seq
    fixt = begin_string == FIXT11
    for side_type, levels in ((BID, snap.bids), (OFFER, snap.offers)):
        if side_type in entry_types:
            shown = levels if depth <= 0 else levels[:depth]
            entries += [_level(side_type, lv, i) for i, lv in enumerate(shown, 1)]
    if TRADE in entry_types and snap.last_trade is not None:
        price, qty, ts = snap.last_trade
        entries.append(f"269=2\x01270={format_price(price)}\x01271={qty}\x01"
                       f"{_date_time(ts)}")  # fmt: skip
    for kind in ("4", "7", "8"):
        if kind in entry_types and kind in snap.stats:
            entries.append(f"269={kind}\x01270={format_price(snap.stats[kind])}\x01")
    if VOLUME in entry_types and VOLUME in snap.stats:
        entries.append(f"269=B\x01271={snap.stats[VOLUME]}\x01")
    if snap.indicative is not None and entry_types & AUCTION_TYPES and begin_string != FIX42:
        entries += _auction_entries(snap.indicative, begin_string, entry_types, full=True)
    if fixt:
        entries = [f"{e}{RPT_SEQ}={seq}\x01" for e in entries] or [f"269=J\x01{RPT_SEQ}={seq}\x01"]
        req = f"262={req_id}\x01" if req_id else ""
        return (
            f"8={begin_string}\x019=0\x0135=W\x01{req}55={snap.symbol}\x01"
            f"779={transact_time(snap.ts or time.time_ns() // 1000)}\x01"
            f"268={len(entries)}\x01{''.join(entries)}10=000\x01"
        )
    if not entries:
        # FIX 4.x requires at least one entry: an empty book is one entry of size 0 (the
        # first type asked for; 4.2 requires a price: 0).
        first = min(entry_types)
        entries.append(f"269={first}\x01{'270=0' + SOH if begin_string == FIX42 else ''}271=0\x01")
    req = f"262={req_id}\x01" if req_id else ""
    volume = ""
    if begin_string == FIX42 and snap.stats.get(VOLUME):
        volume = f"387={snap.stats[VOLUME]}\x01"
    return (
        f"8={begin_string}\x019=0\x0135=W\x01{req}{MD_SEQ}={seq}\x0155={snap.symbol}\x01"
        f"{volume}268={len(entries)}\x01{''.join(entries)}10=000\x01"
    )


def _auction_entries(
    entry: IndicativeEntry, begin_string: str, types: frozenset[str], full: bool = False
) -> list[str]:
    """The indicative figures as entries: 4.4 one A (price, surplus size, TradeCondition P
    more buyers / Q more sellers, the volume in Text); 5.0 SP2 a Q (price, volume) and an A
    (price, surplus, 277). In an X (full False) each starts with its MDUpdateAction and
    Symbol; a DELETE has no price or size."""
    out: list[str] = []
    fixt = begin_string == FIXT11
    side = {"1": "P", "2": "Q"}.get(entry.surplus_side.value if entry.surplus_side else "", "")
    cond = f"277={side}\x01" if side else ""
    for kind in ("Q", "A") if fixt else ("A",):
        if kind not in types and not (not fixt and types & AUCTION_TYPES):
            continue
        head = "" if full else f"279={entry.action}\x01"
        head += f"269={kind}\x01" + ("" if full else f"55={entry.symbol}\x01")
        if entry.action == DELETE or entry.price is None:
            out.append(head)
            continue
        px = f"270={format_price(entry.price)}\x01"
        if kind == "Q":
            out.append(f"{head}{px}271={entry.volume}\x01")
        elif fixt:
            out.append(f"{head}{px}271={entry.surplus}\x01{cond}")
        else:
            out.append(f"{head}{px}271={entry.surplus}\x01{cond}58=volume {entry.volume}\x01")
    return out


def entry_type(entry: LevelEntry | TradeEntry | StatEntry | IndicativeEntry) -> str:
    if type(entry) is IndicativeEntry:
        return "A"
    if type(entry) is LevelEntry:
        return BID if entry.side is Side.BUY else OFFER
    if type(entry) is TradeEntry:
        return TRADE
    return entry.kind  # type: ignore[union-attr]


def _x_entry(entry: LevelEntry | TradeEntry | StatEntry, seq_tag: int = MD_SEQ) -> str:
    seq = entry.seq
    kind = entry_type(entry)
    if type(entry) is LevelEntry:
        size = "" if entry.action == "2" else f"271={entry.qty}\x01346={entry.orders}\x01"
        return (f"279={entry.action}\x01269={kind}\x0155={entry.symbol}\x01"
                f"270={format_price(entry.price)}\x01{size}{seq_tag}={seq}\x01")  # fmt: skip
    if type(entry) is TradeEntry:
        aggressor = ""
        if seq_tag == RPT_SEQ and entry.aggressor_side is not None:
            aggressor = f"2446={entry.aggressor_side.value}\x01"
        return (f"279=0\x01269=2\x0155={entry.symbol}\x01270={format_price(entry.price)}\x01"
                f"271={entry.qty}\x01{_date_time(entry.ts)}{aggressor}"
                f"{seq_tag}={seq}\x01")  # fmt: skip
    stat: StatEntry = entry  # type: ignore[assignment]
    if stat.deleted:  # the trading day ended
        return f"279=2\x01269={kind}\x0155={stat.symbol}\x01{seq_tag}={seq}\x01"
    value = f"271={stat.value}\x01" if kind == VOLUME else f"270={format_price(stat.value)}\x01"
    action = "0" if kind == OPEN else "1"
    return f"279={action}\x01269={kind}\x0155={stat.symbol}\x01{value}{seq_tag}={seq}\x01"


def incremental(
    begin_string: str,
    req_id: str,
    entries: Sequence[LevelEntry | TradeEntry | StatEntry | IndicativeEntry],
    types: frozenset[str] = AUCTION_TYPES,
) -> str:
    """A MarketDataIncrementalRefresh: one entry per changed level, trade or statistic
    (an indicative change: one or two, `types` says which were asked for)."""
    seq_tag = RPT_SEQ if begin_string == FIXT11 else MD_SEQ
    parts: list[str] = []
    for e in entries:
        if type(e) is IndicativeEntry:
            parts += [f"{x}{seq_tag}={e.seq}\x01"
                      for x in _auction_entries(e, begin_string, types)]  # fmt: skip
        else:
            parts.append(_x_entry(e, seq_tag))  # type: ignore[arg-type]
    req = f"262={req_id}\x01" if req_id else ""
    return f"8={begin_string}\x019=0\x0135=X\x01{req}268={len(parts)}\x01{''.join(parts)}10=000\x01"


def md_reject(begin_string: str, reject: MDReject) -> str:
    reason = f"281={reject.reason}\x01" if reject.reason is not None else ""
    return (
        f"8={begin_string}\x019=0\x0135=Y\x01262={reject.req_id}\x01{reason}"
        f"58={reject.text}\x0110=000\x01"
    )


# -- reference data and trading status ----------------------------------------------------


def _rules(i: Instrument) -> str:
    return f"MinPriceIncrement={i.tick_text} RoundLot={i.lot}"


def security_list(
    begin_string: str, fields: dict[str, str], instruments: dict[str, Instrument]
) -> str:
    """SecurityList (y, FIX 4.4) answering a SecurityListRequest (x): every instrument
    (559=4) or the one named (559=0). Lot as RoundLot and MinTradeVol; the tick, which 4.4
    has no field for, in Text as "MinPriceIncrement=<tick>"."""
    req_id = fields.get("320", "")
    kind = fields.get("559", "")
    head = f"8={begin_string}\x019=0\x0135=y\x01320={req_id}\x01322={req_id}\x01"
    if kind == "0":
        symbol = fields.get("55", "")
        chosen = [instruments[symbol]] if symbol in instruments else []
        if not chosen:
            return f"{head}560=2\x0110=000\x01"  # no instruments found (y has no Text)
    elif kind == "4":
        chosen = list(instruments.values())
    else:
        return f"{head}560=5\x0110=000\x01"  # request type not supported: 0 or 4 only
    tick = begin_string == FIXT11  # MinPriceIncrement(969) exists in 5.0 SP2
    rows = "".join(
        f"55={i.symbol}\x01{f'969={i.tick_text}{SOH}' if tick else ''}561={i.lot}\x01"
        f"562={i.lot}\x0158={_rules(i)}\x01"
        for i in chosen
    )
    return f"{head}560=0\x01393={len(chosen)}\x01146={len(chosen)}\x01{rows}10=000\x01"


def security_definitions(
    begin_string: str, fields: dict[str, str], instruments: dict[str, Instrument]
) -> list[str]:
    """SecurityDefinition (d, FIX 4.2) messages answering a SecurityDefinitionRequest (c):
    321=3 one d per instrument (323=4); 321=0/1 with a Symbol, that instrument (323=1), or
    323=6 when unknown. Lot and tick in Text (4.2's d has no field for either)."""
    req_id = fields.get("320", "")
    kind = fields.get("321", "")
    head = f"8={begin_string}\x019=0\x0135=d\x01320={req_id}\x01322={req_id}\x01"
    if kind == "3":
        count = len(instruments)
        return [
            f"{head}323=4\x01393={count}\x0155={i.symbol}\x0158={_rules(i)}\x0110=000\x01"
            for i in instruments.values()
        ]
    symbol = fields.get("55", "")
    if kind in ("0", "1") and symbol in instruments:
        i = instruments[symbol]
        return [f"{head}323=1\x01393=1\x0155={symbol}\x0158={_rules(i)}\x0110=000\x01"]
    why = f"unknown symbol {symbol}" if kind in ("0", "1") else f"SecurityRequestType(321)={kind}"
    return [f"{head}323=6\x01393=0\x0158={why} is not served\x0110=000\x01"]


def security_status(
    begin_string: str,
    symbol: str,
    halted: bool,
    req_id: str = "",
    change: bool = False,
    text: str = "",
    ts: int | None = None,
    phase: str = "continuous",
) -> str:
    """SecurityStatus (f). Answer to a request (req_id; 326 17 ready to trade or 2 halted)
    or unsolicited on a halt (2) or resume (3, change=True). The halt reason is
    HaltReasonChar(327) M on both versions and Text(58) on 4.4 (4.2's f has no Text).
    Trading phases (spec/auctions.md): closed 18, a call 21 (4.2: 1), continuous 17, with
    TradingSessionSubID(625) naming the phase on 4.4 (text) and 5.0 SP2 (its enum)."""
    if halted:
        status = _HALTED
    elif phase == "closed":
        status = _NOT_AVAILABLE
    elif phase in _CALLS:
        status = _IN_CALL.get(begin_string, "21")
    else:
        status = _RESUMED if change else _TRADING
    sub_id = ""
    if begin_string == FIXT11 and phase in _SUB_ID_50:
        sub_id = f"625={_SUB_ID_50[phase]}\x01"
    elif begin_string != FIX42 and begin_string != FIXT11 and phase != "continuous":
        sub_id = f"625={phase}\x01"
    req = f"324={req_id}\x01" if req_id else ""
    unsolicited = "N" if req_id else "Y"
    reason = f"327={'3' if begin_string == FIXT11 else _HALT_REASON}\x01" if halted else ""
    when = transact_time(ts if ts is not None else time.time_ns() // 1000)
    tail = f"58={text}\x01" if text and begin_string != FIX42 else ""
    return (
        f"8={begin_string}\x019=0\x0135=f\x01{req}55={symbol}\x01{sub_id}325={unsolicited}\x01"
        f"326={status}\x01{reason}60={when}\x01{tail}10=000\x01"
    )
