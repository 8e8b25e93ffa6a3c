"""The public book: a level-2 projection of the kernel's events, per symbol. No I/O.

    book = MarketDataBook(symbols)
    entries = book.apply(event)        # what changed, each entry with its symbol sequence
    book.snapshot(symbol)              # levels, last trade, statistics, as of book.seq(symbol)

Built only from the events the kernel journals (accepted, filled, canceled, replaced,
expired, restated, trade executed, trade busted, halt/resume), never from kernel state, so
it is exactly what a consumer of the journal could rebuild. It holds what a market-data
subscriber may see and nothing else: price levels (visible size, number of orders), trades
(price, size, aggressor side, time), session statistics, the trading status. No firm,
session, account or order id leaves it; the only per-order state it keeps is the order's
side, price and the quantity it shows, to take it out of its level again.

Resting or not: the kernel reports OrderAccepted (and a price-changing OrderReplaced)
before it matches. Matching only ever runs while the order crosses the best opposite
level, so an accepted or repriced order that can rest (a limit order, Day or GTC) is put on
its level as soon as it no longer crosses this book's opposite side and is still live; IOC,
FOK and market orders never rest.

Sequence: every level change and every trade takes the symbol's next number, so a
full-depth consumer of bids, offers and trades sees them without gaps; a statistic carries
the number of the trade (or bust, or day end) that changed it. Statistics and the last
trade are the trading day's: end_day() clears them. A book
started after a restart begins every symbol at `start_seq`, which the caller makes larger
than any number given before (MarketDataBook.restart_seq).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from sortedcontainers import SortedDict

from venue.domain.events import (
    Event,
    IndicativeChanged,
    OperatorActionApplied,
    OrderAccepted,
    OrderCanceled,
    OrderExpired,
    OrderFilled,
    OrderReplaced,
    OrderRestated,
    OrderSnapshot,
    OrderTradeCanceled,
    OrderTriggered,
    PhaseChanged,
    TradeBusted,
    TradeExecuted,
)
from venue.domain.values import Side, TimeInForce

NEW, CHANGE, DELETE = "0", "1", "2"  # MDUpdateAction(279)
# Statistics the venue keeps, by the MDEntryType(269) that carries them.
OPEN, HIGH, LOW, VOLUME = "4", "7", "8", "B"
_CALLS = ("pre-open", "pre-close", "call")
# At most this many sequence numbers come from one event (a replace: two levels). Used by
# restart_seq.
MAX_ENTRIES_PER_EVENT = 2


@dataclass(frozen=True, slots=True)
class LevelEntry:
    """A price level appeared (NEW), changed (CHANGE) or went away (DELETE, qty 0)."""

    symbol: str
    seq: int
    ts: int
    action: str
    side: Side
    price: int
    qty: int
    orders: int


@dataclass(frozen=True, slots=True)
class TradeEntry:
    symbol: str
    seq: int
    ts: int
    price: int
    qty: int
    aggressor_side: Side | None  # None: an auction's print
    trade_id: int


@dataclass(frozen=True, slots=True)
class StatEntry:
    """A session statistic changed: OPEN, HIGH, LOW (a price) or VOLUME (a quantity); or,
    deleted, it ended with the trading day (value 0)."""

    symbol: str
    seq: int
    ts: int
    kind: str
    value: int
    deleted: bool = False


@dataclass(frozen=True, slots=True)
class StatusEntry:
    """The symbol was halted or resumed, or its trading phase changed (no sequence
    number: it is not book data). resumed: the end of a halt."""

    symbol: str
    ts: int
    halted: bool
    text: str
    phase: str = "continuous"
    resumed: bool = False


@dataclass(frozen=True, slots=True)
class IndicativeEntry:
    """During a call: the indicative auction price, volume and surplus (price None: no
    longer shown, the call ended or nothing would execute). Like a statistic it carries the
    symbol's current sequence number and takes none of its own."""

    symbol: str
    seq: int
    ts: int
    action: str  # NEW, CHANGE or DELETE
    price: int | None
    volume: int
    surplus: int
    surplus_side: Side | None


Entry = LevelEntry | TradeEntry | StatEntry | StatusEntry | IndicativeEntry


@dataclass(frozen=True, slots=True)
class Level:
    price: int
    qty: int
    orders: int


@dataclass(frozen=True, slots=True)
class Snapshot:
    symbol: str
    seq: int  # the symbol sequence this snapshot reflects
    ts: int
    bids: tuple[Level, ...]  # best first
    offers: tuple[Level, ...]
    last_trade: tuple[int, int, int] | None  # price, qty, ts
    stats: dict[str, int]  # OPEN/HIGH/LOW/VOLUME -> value, only those known
    halted: bool
    phase: str = "continuous"
    indicative: IndicativeEntry | None = None  # in a call, when it has a price


@dataclass(slots=True)
class _Symbol:
    symbol: str
    seq: int
    ts: int = 0
    sides: dict[Side, SortedDict] = field(
        default_factory=lambda: {Side.BUY: SortedDict(), Side.SELL: SortedDict()}
    )  # key (-price for bids) -> [price, qty, orders]
    last_trade: tuple[int, int, int] | None = None
    trades: dict[int, tuple[int, int]] = field(default_factory=dict)  # id -> (price, qty)
    base: tuple[int, int, int, int] | None = None  # open, high, low, volume of older trades
    stats: dict[str, int] = field(default_factory=dict)
    halted: bool = False
    halt_text: str = ""  # why, while halted
    phase: str = "continuous"  # anything else: nothing matches, the book may be crossed
    indicative: IndicativeEntry | None = None


def _key(side: Side, price: int) -> int:
    return -price if side is Side.BUY else price


def _can_rest(o: OrderSnapshot) -> bool:
    """Priced, may rest, not done, and not a stop still waiting for its trigger (limit,
    triggered stop-limit and market-to-limit orders rest at their price)."""
    return (
        o.price is not None
        and (o.stop_px is None or o.triggered)
        and o.tif not in (TimeInForce.IOC, TimeInForce.FOK)
        and not o.status.is_done
        and o.leaves_qty > 0
    )


def visible_qty(o: OrderSnapshot) -> int:
    """What the book shows of an order: its leaves quantity, or an iceberg's current peak
    (the hidden rest never appears)."""
    return o.leaves_qty if o.max_floor is None else min(o.display_qty, o.leaves_qty)


class MarketDataBook:
    def __init__(
        self, symbols: Iterable[str], start_seq: int = 0, keep_trades: int = 100_000
    ) -> None:
        self._symbols = {s: _Symbol(s, start_seq) for s in symbols}
        # The day's trades kept for busts, as many as the kernel keeps (Retention.trades):
        # older ones only count in their symbol's `base`, as the kernel's day_base.
        self._keep_trades = keep_trades
        self._trade_fifo: deque[tuple[int, _Symbol]] = deque()
        self._resting: dict[int, tuple[str, Side, int, int]] = {}  # id -> symbol, side, px, qty
        self._pending: dict[int, OrderSnapshot] = {}  # accepted or repriced, still matching

    @staticmethod
    def restart_seq(last_event_seq: int) -> int:
        """A start sequence above any the feed can have given before the venue's event
        sequence reached last_event_seq (entries per event are bounded)."""
        return last_event_seq * MAX_ENTRIES_PER_EVENT

    @property
    def symbols(self) -> list[str]:
        return list(self._symbols)

    def knows(self, symbol: str) -> bool:
        return symbol in self._symbols

    def seq(self, symbol: str) -> int:
        return self._symbols[symbol].seq

    def halted(self, symbol: str) -> bool:
        return self._symbols[symbol].halted

    def halt_text(self, symbol: str) -> str:
        """The operator's Text of the halt in force ("" when trading)."""
        return self._symbols[symbol].halt_text

    # -- seeding (a venue restart: the kernel's resting orders and today's trades) ---------

    def seed_order(self, o: OrderSnapshot) -> None:
        """Put a resting order in the book without producing entries."""
        if o.symbol in self._symbols and _can_rest(o):
            self._add(self._symbols[o.symbol], o, [], 0, emit=False)

    def seed_trade(self, symbol: str, trade_id: int, price: int, qty: int, ts: int) -> None:
        if symbol in self._symbols:
            self._trade_stats(self._symbols[symbol], trade_id, price, qty, ts, [], emit=False)

    def seed_base(self, symbol: str, base: tuple[int, int, int, int]) -> None:
        """The statistics of the day's trades the kernel no longer keeps (its day_base);
        before seed_trade."""
        if symbol in self._symbols:
            book = self._symbols[symbol]
            book.base = tuple(base)  # type: ignore[assignment]
            book.stats = dict(zip((OPEN, HIGH, LOW, VOLUME), base, strict=True))

    def seed_halted(self, symbol: str) -> None:
        if symbol in self._symbols:
            self._symbols[symbol].halted = True
            self._symbols[symbol].halt_text = f"{symbol} halted"  # the reason is not kept

    def seed_phase(
        self, symbol: str, phase: str, indicative: tuple[int | None, int, int, str | None] | None
    ) -> None:
        book = self._symbols.get(symbol)
        if book is None:
            return
        book.phase = phase
        if indicative is not None and indicative[0] is not None:
            price, volume, surplus, side = indicative
            book.indicative = IndicativeEntry(
                symbol,
                book.seq,
                0,
                NEW,
                price,
                volume,
                surplus,
                None if side is None else Side(side),
            )

    def phase(self, symbol: str) -> str:
        return self._symbols[symbol].phase

    # -- events -------------------------------------------------------------------------

    def apply(self, event: Event) -> list[Entry]:
        """Apply one kernel event (in journal order); returns the entries it produced."""
        out: list[Entry] = []
        kind = type(event)
        if kind is TradeExecuted:
            t: TradeExecuted = event  # type: ignore[assignment]
            book = self._symbols.get(t.symbol)
            if book is not None:
                book.ts = t.ts
                book.seq += 1
                out.append(TradeEntry(t.symbol, book.seq, t.ts, t.price, t.qty,
                                      None if t.auction else t.aggressor_side,
                                      t.trade_id))  # fmt: skip
                book.last_trade = (t.price, t.qty, t.ts)
                self._trade_stats(book, t.trade_id, t.price, t.qty, t.ts, out)
            return out
        if kind is TradeBusted:
            b: TradeBusted = event  # type: ignore[assignment]
            book = self._symbols.get(b.symbol)
            if book is not None and book.trades.pop(b.trade_id, None) is not None:
                self._recompute_stats(book, b.ts, out)
            return out
        if kind is OperatorActionApplied:
            a: OperatorActionApplied = event  # type: ignore[assignment]
            book = self._symbols.get(a.key)
            if a.ok and a.action in ("halt", "resume") and book is not None:
                book.halted = a.action == "halt"
                book.halt_text = a.text if book.halted else ""
                out.append(StatusEntry(a.key, a.ts, book.halted, a.text, book.phase,
                                       resumed=not book.halted))  # fmt: skip
            return out
        if kind is PhaseChanged:
            p: PhaseChanged = event  # type: ignore[assignment]
            book = self._symbols.get(p.symbol)
            if book is not None:
                book.phase = p.phase.value
                book.ts = p.ts
                if book.indicative is not None and p.phase.value not in _CALLS:
                    out.append(self._indicative(book, p.ts, None, 0, 0, None))
                if not book.halted and not p.initial:
                    out.append(StatusEntry(p.symbol, p.ts, False, p.text, book.phase))
                self._settle(book, out, p.ts)
            return out
        if kind is IndicativeChanged:
            i: IndicativeChanged = event  # type: ignore[assignment]
            book = self._symbols.get(i.symbol)
            if book is not None and (i.price is not None or book.indicative is not None):
                out.append(self._indicative(book, i.ts, i.price, i.volume, i.surplus,
                                            i.surplus_side))  # fmt: skip
            return out
        if kind in (OrderAccepted, OrderFilled, OrderCanceled, OrderReplaced, OrderExpired,
                    OrderRestated, OrderTradeCanceled, OrderTriggered):  # fmt: skip
            o: OrderSnapshot = event.order  # type: ignore[union-attr,assignment]
            book = self._symbols.get(o.symbol)
            if book is None:
                return out
            ts = event.ts
            book.ts = ts
            oid = o.order_id
            if kind is OrderAccepted or kind is OrderTriggered:  # a triggered stop enters now
                if _can_rest(o):
                    self._pending[oid] = o
            elif kind is OrderReplaced:
                old = self._resting.get(oid)
                if (
                    old is not None
                    and _can_rest(o)
                    and old[2] == o.price
                    and (visible_qty(o) <= old[3])
                ):
                    self._resize(book, oid, o, out, ts)  # keeps its place
                else:
                    self._remove(book, oid, out, ts)
                    if _can_rest(o):
                        self._pending[oid] = o
            elif oid in self._resting:
                if o.status.is_done or o.leaves_qty == 0:
                    self._remove(book, oid, out, ts)
                else:
                    self._resize(book, oid, o, out, ts)
            elif oid in self._pending:
                if o.status.is_done or o.leaves_qty == 0:
                    del self._pending[oid]
                else:
                    self._pending[oid] = o
            self._settle(book, out, ts)
        return out

    def end_day(self, ts: int) -> list[Entry]:
        """The trading day ended (the kernel's ExpireDayOrders): every symbol's statistics
        and last trade go; a deleted StatEntry per statistic it had."""
        out: list[Entry] = []
        for book in self._symbols.values():
            for kind in (OPEN, HIGH, LOW, VOLUME):
                if kind in book.stats:
                    out.append(StatEntry(book.symbol, book.seq, ts, kind, 0, deleted=True))
            book.stats = {}
            book.trades = {}
            book.base = None
            book.last_trade = None
        self._trade_fifo.clear()
        return out

    # -- reading ------------------------------------------------------------------------

    def levels(self, symbol: str, side: Side, depth: int = 0) -> tuple[Level, ...]:
        """Levels best first; depth 0 is all of them."""
        levels = self._symbols[symbol].sides[side]
        values = levels.values() if depth <= 0 else levels.values()[:depth]
        return tuple(Level(p, q, n) for p, q, n in values)

    def snapshot(self, symbol: str, depth: int = 0) -> Snapshot:
        book = self._symbols[symbol]
        return Snapshot(
            symbol, book.seq, book.ts,
            self.levels(symbol, Side.BUY, depth), self.levels(symbol, Side.SELL, depth),
            book.last_trade, dict(book.stats), book.halted, book.phase, book.indicative,
        )  # fmt: skip

    # -- internals ----------------------------------------------------------------------

    def _indicative(
        self, book: _Symbol, ts: int, price: int | None, volume: int, surplus: int,
        side: Side | None,
    ) -> IndicativeEntry:  # fmt: skip
        action = DELETE if price is None else NEW if book.indicative is None else CHANGE
        entry = IndicativeEntry(book.symbol, book.seq, ts, action, price, volume, surplus, side)
        book.indicative = None if price is None else entry
        return entry

    def _settle(self, book: _Symbol, out: list[Entry], ts: int) -> None:
        """Rest every pending order of this symbol that no longer crosses (outside
        continuous trading nothing matches: every one)."""
        if not self._pending:
            return
        in_call = book.phase != "continuous"
        for oid, o in list(self._pending.items()):
            if o.symbol != book.symbol:
                continue
            opposite = book.sides[o.side.opposite]
            if opposite and not in_call:
                best = opposite.values()[0][0]
                assert o.price is not None
                if (o.side is Side.BUY and best <= o.price) or (
                    o.side is Side.SELL and best >= o.price
                ):
                    continue  # still matching
            del self._pending[oid]
            self._add(book, o, out, ts)

    def _next(self, book: _Symbol) -> int:
        book.seq += 1
        return book.seq

    def _add(self, book: _Symbol, o: OrderSnapshot, out: list[Entry], ts: int,
             emit: bool = True) -> None:  # fmt: skip
        assert o.price is not None
        qty = visible_qty(o)
        self._resting[o.order_id] = (book.symbol, o.side, o.price, qty)
        levels = book.sides[o.side]
        key = _key(o.side, o.price)
        level = levels.get(key)
        if level is None:
            levels[key] = [o.price, qty, 1]
            action = NEW
        else:
            level[1] += qty
            level[2] += 1
            action = CHANGE
        if emit:
            p, q, n = levels[key]
            out.append(LevelEntry(book.symbol, self._next(book), ts, action, o.side, p, q, n))

    def _remove(self, book: _Symbol, oid: int, out: list[Entry], ts: int) -> None:
        rest = self._resting.pop(oid, None)
        if rest is None:
            return
        _, side, price, qty = rest
        levels = book.sides[side]
        key = _key(side, price)
        level = levels[key]
        level[1] -= qty
        level[2] -= 1
        if level[2] == 0:
            del levels[key]
            out.append(LevelEntry(book.symbol, self._next(book), ts, DELETE, side, price, 0, 0))
        else:
            out.append(LevelEntry(book.symbol, self._next(book), ts, CHANGE, side, price,
                                  level[1], level[2]))  # fmt: skip

    def _resize(self, book: _Symbol, oid: int, o: OrderSnapshot, out: list[Entry],
                ts: int) -> None:  # fmt: skip
        symbol, side, price, qty = self._resting[oid]
        new_qty = visible_qty(o)
        if new_qty == qty:
            return
        self._resting[oid] = (symbol, side, price, new_qty)
        level = book.sides[side][_key(side, price)]
        level[1] += new_qty - qty
        out.append(LevelEntry(book.symbol, self._next(book), ts, CHANGE, side, price,
                              level[1], level[2]))  # fmt: skip

    def _trade_stats(self, book: _Symbol, trade_id: int, price: int, qty: int, ts: int,
                     out: list[Entry], emit: bool = True) -> None:  # fmt: skip
        book.trades[trade_id] = (price, qty)
        fifo = self._trade_fifo
        fifo.append((trade_id, book))
        if len(fifo) > self._keep_trades:  # the kernel forgets it too: it can't be busted
            old_id, old_book = fifo.popleft()
            kept = old_book.trades.pop(old_id, None)
            if kept is not None:
                p, q = kept
                b = old_book.base
                old_book.base = (
                    (p, p, p, q) if b is None else (b[0], max(b[1], p), min(b[2], p), b[3] + q)
                )
        stats = book.stats
        changed: list[tuple[str, int]] = []
        if OPEN not in stats:
            changed.append((OPEN, price))
        if HIGH not in stats or price > stats[HIGH]:
            changed.append((HIGH, price))
        if LOW not in stats or price < stats[LOW]:
            changed.append((LOW, price))
        changed.append((VOLUME, stats.get(VOLUME, 0) + qty))
        for kind, value in changed:
            stats[kind] = value
            if emit:
                out.append(StatEntry(book.symbol, book.seq, ts, kind, value))
        if not emit:
            book.last_trade = (price, qty, ts)

    def _recompute_stats(self, book: _Symbol, ts: int, out: list[Entry]) -> None:
        """After a bust: the statistics over the trades that stand."""
        stats: dict[str, int] = {}
        if book.base is not None:
            stats = dict(zip((OPEN, HIGH, LOW, VOLUME), book.base, strict=True))
        for price, qty in book.trades.values():  # in trade order
            stats.setdefault(OPEN, price)
            stats[HIGH] = max(stats.get(HIGH, price), price)
            stats[LOW] = min(stats.get(LOW, price), price)
            stats[VOLUME] = stats.get(VOLUME, 0) + qty
        for kind in (OPEN, HIGH, LOW, VOLUME):
            if stats.get(kind) != book.stats.get(kind):
                value = stats.get(kind, 0)
                out.append(StatEntry(book.symbol, book.seq, ts, kind, value))
        book.stats = stats
