"""The market-data service: subscriptions of market_data sessions, served from the book.

    kernel thread, after a batch is journaled and its reports handed to QuickFIX:
        service.publish(events)            one queue put, never blocks, never fails
    acceptor thread: service.request(session, raw)   V, x, c, e from a market_data session
    market-data thread (this module's own): applies events to the MarketDataBook, answers
        requests, and sends W / X / Y / y / d / f through the gateway

Everything stateful lives on the market-data thread, so a W and the X after it are always
consistent: the W reflects the book at the sequence it carries and the subscription gets
every entry after it. Order entry never waits for market data: publish() only enqueues.

Slow consumers: entries for a subscription wait in its own list until the thread sends
them (after every pass over what has arrived). A list that reaches `queue_bound` entries is
dropped and the symbol is resynchronised with a fresh W instead (never a silent gap).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from venue.domain.events import Event
from venue.domain.reference import Reference, Role
from venue.domain.trades import is_busted
from venue.domain.values import Side
from venue.fix.codec import business_reject, parse
from venue.fix.mdcodec import (
    AUCTION_TYPES,
    BID,
    OFFER,
    SNAPSHOT,
    SUBSCRIBE,
    UNSUBSCRIBE,
    MDReject,
    decode_md_request,
    entry_type,
    incremental,
    md_reject,
    security_definitions,
    security_list,
    security_status,
    snapshot,
)
from venue.fix.mdcodec import (
    DUPLICATE_MD_REQ_ID as _DUPLICATE,
)
from venue.fix.mdcodec import (
    TOO_MANY_SUBSCRIPTIONS as _TOO_MANY,
)
from venue.marketdata.book import (
    CHANGE,
    DELETE,
    NEW,
    Entry,
    IndicativeEntry,
    Level,
    LevelEntry,
    MarketDataBook,
    StatusEntry,
    TradeEntry,
)

log = logging.getLogger("venue.marketdata")

QUEUE_BOUND = 10_000  # entries waiting for one subscription before it is resynchronised
ENTRIES_PER_X = 100  # an X carries at most this many entries
DEFAULT_MAX_SUBSCRIPTIONS = 100  # per session: one MDReqID for one symbol counts as one
LATENCY_SAMPLES = 100_000  # the latest trade-to-X hand-over times kept (trade_latencies)
_STOP = object()


class Gateway(Protocol):
    def send_grouped(self, session: str, text: str) -> None: ...
    def begin_string(self, session: str) -> str: ...
    def logged_on(self, session: str) -> bool: ...


@dataclass(slots=True)
class _Subscription:
    session: str
    req_id: str
    begin: str
    depth: int
    types: frozenset[str]
    symbols: tuple[str, ...]
    pending: list[Entry] = field(default_factory=list)
    dirty: set[str] = field(default_factory=set)  # depth-limited: symbols to diff
    resync: set[str] = field(default_factory=set)
    shown: dict[tuple[str, Side], dict[int, tuple[int, int]]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Ended:
    session: str


@dataclass(frozen=True, slots=True)
class _DayEnded:
    ts: int


class _Batch:
    """A batch's events, when publish() got them (its last report handed to QuickFIX) and,
    per trade id, when the trade's last fill report was (perf_counter_ns)."""

    __slots__ = ("events", "released", "fills_sent")

    def __init__(self, events: list[Event], released: int, fills_sent: dict[int, int]) -> None:
        self.events = events
        self.released = released
        self.fills_sent = fills_sent


class MarketDataService:
    def __init__(
        self,
        reference: Reference,
        queue_bound: int = QUEUE_BOUND,
        max_subscriptions: Callable[[str], int] | None = None,
    ) -> None:
        self.reference = reference
        self.queue_bound = queue_bound
        self._max_subs = max_subscriptions or (lambda _s: DEFAULT_MAX_SUBSCRIPTIONS)
        self._md_sessions = [
            s.session for s in reference.sessions.values() if s.role is Role.MARKET_DATA
        ]
        self._inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._gateway: Gateway | None = None
        self.book = MarketDataBook(reference.instruments)
        self._subs: dict[str, dict[str, _Subscription]] = {}  # session -> MDReqID -> sub
        self._by_symbol: dict[str, list[_Subscription]] = {s: [] for s in reference.instruments}
        self.resyncs = 0  # subscriptions resynchronised because their queue was full
        # Trade to X: per X hand-over of a trade entry, the ns from its batch's release.
        self._latencies: deque[int] = deque(maxlen=LATENCY_SAMPLES)
        self._released: dict[tuple[str, int], int] = {}  # trade entry -> batch released

    # -- any thread ---------------------------------------------------------------------

    def start(self, gateway: Gateway, kernel: Any = None) -> None:
        """Seed the book from a recovered kernel (its resting orders, today's trades,
        halts) and start the thread. Sequences start above any given before the restart."""
        if kernel is not None:
            book = MarketDataBook(
                self.reference.instruments,
                MarketDataBook.restart_seq(kernel.counters.seq),
                keep_trades=kernel.retention.trades,
            )
            for symbol, base in kernel.day_base.items():
                book.seed_base(symbol, base)
            for engine in kernel.engines.values():
                for order in engine.book.orders.values():
                    book.seed_order(order.snapshot())
            for trade_id, trade in sorted(kernel.trades.items()):
                symbol, price, qty, *_ = trade
                if not is_busted(trade):
                    book.seed_trade(symbol, trade_id, price, qty, kernel.last_ts)
            for symbol in kernel.halted:
                book.seed_halted(symbol)
            for symbol, phase in kernel.phase.items():
                book.seed_phase(symbol, phase.value, kernel.indicative.get(symbol))
            self.book = book
        self._gateway = gateway
        self._thread = threading.Thread(target=self._run, name="marketdata", daemon=True)
        self._thread.start()

    def publish(self, events: list[Event], fills_sent: dict[int, int] | None = None) -> None:
        """Kernel thread, after the events are durable and their reports handed over;
        fills_sent: trade id -> when its last fill report was handed over."""
        if self._thread is not None and events:
            self._inbox.put(_Batch(events, time.perf_counter_ns(), fills_sent or {}))

    def trade_latencies(self, timeout: float = 10.0) -> list[int]:
        """The latest LATENCY_SAMPLES times, in ns, from a trade's reports handed to
        QuickFIX (the later of its two fills, Venue._release; else the end of its batch's
        release) to an X carrying the trade handed to QuickFIX, one per subscription it
        went to. Taken on the market-data thread, which then forgets them."""
        taken: list[int] = []

        def take() -> None:
            taken.extend(self._latencies)
            self._latencies.clear()

        self._call(take, timeout)
        return taken

    def day_ended(self, ts: int) -> None:
        """Kernel thread, once the ExpireDayOrders ending the trading day is durable and
        released: the session statistics start again."""
        if self._thread is not None:
            self._inbox.put(_DayEnded(ts))

    def request(self, session: str, raw: str) -> None:
        """Acceptor thread: a V, x, c or e from a market_data session."""
        self._inbox.put((session, raw))

    def session_ended(self, session: str) -> None:
        """The session logged out: its subscriptions end (it subscribes again)."""
        self._inbox.put(_Ended(session))

    def stop(self, timeout: float = 10.0) -> None:
        if self._thread is None:
            return
        self._inbox.put(_STOP)
        self._thread.join(timeout)
        self._thread = None

    def sync(self, timeout: float = 10.0) -> None:
        """Wait until everything queued so far has been handled (for tests and benchmarks)."""
        self._call(lambda: None, timeout)

    def _call(self, what: Callable[[], None], timeout: float) -> None:
        """Run `what` on the market-data thread after everything queued so far."""
        done = threading.Event()
        if self._thread is None:
            what()
            return
        self._inbox.put((what, done))
        if not done.wait(timeout):
            raise TimeoutError("market-data thread did not catch up")

    # -- market-data thread -------------------------------------------------------------

    def _run(self) -> None:
        inbox = self._inbox
        while True:
            items = [inbox.get()]
            while len(items) < 4096:
                try:
                    items.append(inbox.get_nowait())
                except queue.Empty:
                    break
            for item in items:
                try:
                    if item is _STOP:
                        self._flush()
                        return
                    if type(item) is _Batch:
                        self._apply(item.events, item.released, item.fills_sent)
                    elif type(item) is tuple and type(item[1]) is threading.Event:
                        self._flush()
                        item[0]()
                        item[1].set()
                    elif type(item) is tuple:
                        self._flush()  # what came before the request goes out first
                        self._handle(*item)
                    elif type(item) is _Ended:
                        self._drop_session(item.session)
                    elif type(item) is _DayEnded:
                        self._route(self.book.end_day(item.ts), 0)
                    elif isinstance(item, threading.Event):  # a bare Event: a sync
                        self._flush()
                        item.set()
                except Exception:  # a bug: keep serving the others
                    log.exception("market data: could not handle %r", item)
            try:
                self._flush()
            except Exception:
                log.exception("market data: flush failed")

    def _send(self, session: str, text: str) -> None:
        assert self._gateway is not None
        try:
            self._gateway.send_grouped(session, text)
        except Exception:
            log.exception("market data: could not send to %s", session)

    def _apply(
        self, events: list[Event], released: int = 0, fills_sent: dict[int, int] | None = None
    ) -> None:
        book = self.book
        for event in events:
            entries = book.apply(event)
            if entries:
                self._route(entries, released, fills_sent)

    def _route(
        self, entries: list[Entry], released: int, fills_sent: dict[int, int] | None = None
    ) -> None:
        """Each entry to the subscriptions that want it."""
        for entry in entries:
            if type(entry) is StatusEntry:
                self._flush()
                self._status_to_all(entry)
                continue
            auction = type(entry) is IndicativeEntry
            for sub in self._by_symbol[entry.symbol]:
                if auction:
                    if not sub.types & AUCTION_TYPES:
                        continue
                elif entry_type(entry) not in sub.types:  # type: ignore[arg-type]
                    continue
                if entry.symbol in sub.resync:
                    continue
                if sub.depth and type(entry) is LevelEntry:
                    sub.dirty.add(entry.symbol)
                    continue
                sub.pending.append(entry)
                if type(entry) is TradeEntry:
                    at = fills_sent.get(entry.trade_id, released) if fills_sent else released
                    self._released[(entry.symbol, entry.seq)] = at
                if len(sub.pending) >= self.queue_bound:
                    self._overflow(sub)

    def _overflow(self, sub: _Subscription) -> None:
        self.resyncs += 1
        log.warning("market data: %s %s fell %d entries behind: resynchronising with a W",
                    sub.session, sub.req_id, len(sub.pending))  # fmt: skip
        sub.resync.update(e.symbol for e in sub.pending)
        sub.pending = [e for e in sub.pending if e.symbol not in sub.resync]

    def _flush(self) -> None:
        for subs in self._subs.values():
            for sub in subs.values():
                if sub.pending or sub.dirty or sub.resync:
                    self._flush_one(sub)
        self._released.clear()

    def _flush_one(self, sub: _Subscription) -> None:
        entries = [e for e in sub.pending if e.symbol not in sub.resync]
        sub.pending = []
        for symbol in sorted(sub.dirty - sub.resync):
            entries += self._diff(sub, symbol)
        sub.dirty.clear()
        for i in range(0, len(entries), ENTRIES_PER_X):
            chunk = entries[i : i + ENTRIES_PER_X]
            self._send(sub.session, incremental(sub.begin, sub.req_id, chunk, sub.types))  # type: ignore[arg-type]
            if self._released:
                self._sample(chunk)
        for symbol in sorted(sub.resync):
            self._send_snapshot(sub, symbol)
        sub.resync.clear()

    def _sample(self, chunk: list[Entry]) -> None:
        """An X was handed over: the time since each of its trades' reports were."""
        now = time.perf_counter_ns()
        released = self._released
        for e in chunk:
            if type(e) is TradeEntry:
                at = released.get((e.symbol, e.seq))
                if at:
                    self._latencies.append(now - at)

    def _diff(self, sub: _Subscription, symbol: str) -> list[Entry]:
        """A depth-limited subscription: what changed in its top `depth` levels."""
        out: list[Entry] = []
        seq = self.book.seq(symbol)
        for side, kind in ((Side.BUY, BID), (Side.SELL, OFFER)):
            if kind not in sub.types:
                continue
            now = {
                lv.price: (lv.qty, lv.orders) for lv in self.book.levels(symbol, side, sub.depth)
            }
            before = sub.shown.get((symbol, side), {})
            for price in before.keys() - now.keys():
                out.append(LevelEntry(symbol, seq, 0, DELETE, side, price, 0, 0))
            for price, (qty, orders) in now.items():
                if price not in before:
                    out.append(LevelEntry(symbol, seq, 0, NEW, side, price, qty, orders))
                elif before[price] != (qty, orders):
                    out.append(LevelEntry(symbol, seq, 0, CHANGE, side, price, qty, orders))
            sub.shown[(symbol, side)] = now
        return out

    def _send_snapshot(self, sub: _Subscription, symbol: str) -> None:
        snap = self.book.snapshot(symbol)
        for side, levels in ((Side.BUY, snap.bids), (Side.SELL, snap.offers)):
            shown: tuple[Level, ...] = levels if sub.depth <= 0 else levels[: sub.depth]
            sub.shown[(symbol, side)] = {lv.price: (lv.qty, lv.orders) for lv in shown}
        self._send(sub.session, snapshot(sub.begin, sub.req_id, snap, sub.types, sub.depth))

    def _status_to_all(self, entry: StatusEntry) -> None:
        assert self._gateway is not None
        for session in self._md_sessions:
            if self._gateway.logged_on(session):
                begin = self._gateway.begin_string(session)
                text = security_status(
                    begin,
                    entry.symbol,
                    entry.halted,
                    change=entry.resumed,
                    text=entry.text,
                    ts=entry.ts,
                    phase=entry.phase,
                )
                self._send(session, text)

    def _drop_session(self, session: str) -> None:
        for sub in self._subs.pop(session, {}).values():
            self._unregister(sub)

    def _unregister(self, sub: _Subscription) -> None:
        for symbol in sub.symbols:
            self._by_symbol[symbol].remove(sub)

    # -- requests -----------------------------------------------------------------------

    def _handle(self, session: str, raw: str) -> None:
        assert self._gateway is not None
        begin = self._gateway.begin_string(session)
        fields = parse(raw)
        msg_type = fields.get("35", "")
        instruments = self.reference.instruments
        if msg_type == "V":
            self._market_data_request(session, begin, raw)
        elif msg_type == "x":
            self._send(session, security_list(begin, fields, instruments))
        elif msg_type == "c":
            for text in security_definitions(begin, fields, instruments):
                self._send(session, text)
        elif msg_type == "e":
            symbol = fields.get("55", "")
            req_id = fields.get("324", "")
            if not self.book.knows(symbol):
                self._send(session, business_reject(begin, fields.get("34", ""), "e", req_id,
                                                    "2", f"unknown symbol {symbol}"))  # fmt: skip
                return
            halted, why = self.book.halted(symbol), self.book.halt_text(symbol)
            self._send(session, security_status(begin, symbol, halted, req_id, text=why,
                                                phase=self.book.phase(symbol)))  # fmt: skip

    def _market_data_request(self, session: str, begin: str, raw: str) -> None:
        request = decode_md_request(raw, begin, self.book.symbols)
        if type(request) is MDReject:
            self._send(session, md_reject(begin, request))
            return
        assert not isinstance(request, MDReject)
        subs = self._subs.setdefault(session, {})
        if request.kind == UNSUBSCRIBE:
            sub = subs.pop(request.req_id, None)
            if sub is None:
                why = f"MDReqID {request.req_id} is not a subscription of this session"
                self._send(session, md_reject(begin, MDReject(request.req_id, None, why)))
            else:
                self._unregister(sub)
            return
        if request.req_id in subs:
            why = f"MDReqID {request.req_id} is already in use: unsubscribe it first"
            self._send(session, md_reject(begin, MDReject(request.req_id, _DUPLICATE, why)))
            return
        sub = _Subscription(session, request.req_id, begin, request.depth,
                            request.entry_types, request.symbols)  # fmt: skip
        if request.kind == SUBSCRIBE:
            count = sum(len(s.symbols) for s in subs.values()) + len(request.symbols)
            limit = self._max_subs(session)
            if count > limit:
                why = f"{count} subscriptions would exceed this session's limit of {limit}"
                self._send(session, md_reject(begin, MDReject(request.req_id, _TOO_MANY, why)))
                return
            subs[request.req_id] = sub
            for symbol in request.symbols:
                self._by_symbol[symbol].append(sub)
        else:
            assert request.kind == SNAPSHOT
        for symbol in request.symbols:
            self._send_snapshot(sub, symbol)


def max_subscriptions_of(reference: Reference) -> Callable[[str], int]:
    """The per-session limit from the session's settings (max_md_subscriptions)."""

    def limit(session: str) -> int:
        info = reference.sessions.get(session)
        value = getattr(info, "max_md_subscriptions", None)
        return DEFAULT_MAX_SUBSCRIPTIONS if value is None else int(value)

    return limit
