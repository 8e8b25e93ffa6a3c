"""The message examples in spec/market-data.md are what the venue sends: each is made here
from one scenario (a kernel, the market-data book, the codec) for FIX 4.2, 4.4 and 5.0 SP2
and must appear in the spec exactly (header fields QuickFIX fills left out; a line ending in
"|" goes on on the next one). The same scenario runs over TCP in test_marketdata.py's
validating client tests; here it is only the text.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from core_helpers import SYMBOLS, cancel, kernel, new

from venue.fix.codec import FIX42, FIXT11
from venue.fix.mdcodec import MDReject, entry_type, incremental, md_reject, snapshot
from venue.marketdata.book import MarketDataBook, Snapshot, StatusEntry

SPEC = Path(__file__).resolve().parent.parent / "spec" / "market-data.md"
TS = int(datetime(2026, 12, 2, 10, 0, 0, 123456, tzinfo=UTC).timestamp() * 1_000_000)
TYPES = {FIX42: frozenset("012478"), "FIX.4.4": frozenset("012478B"),
         FIXT11: frozenset("012478B")}  # fmt: skip


def shown(text: str) -> str:
    """As the spec shows a message: '|' for SOH, without 8, 9 and 10."""
    fields = text.split("\x01")[:-1]
    return "|".join(f for f in fields if f.split("=")[0] not in ("8", "9", "10"))


def scenario() -> tuple[Snapshot, list, list]:
    """AAPL: a trade of 20 at 190, then bids 190 x 150 (two orders), 189.50 x 70 and an
    offer 190.10 x 40 (the W, at sequence 7); then a buy takes the offer and one of the two
    bids at 190 is canceled (the X); then the trading day ends (an X of deletes)."""
    k, md = kernel(), MarketDataBook(SYMBOLS)
    ms = 0

    def run(command) -> list:
        nonlocal ms
        ms += 100_000
        return [e for ev in k.handle(command, TS + ms) for e in md.apply(ev)]

    for command in (
        new("s0", "S", 20, "190.00", "C2"), new("b0", "B", 20, "190.00"),
        new("b1", "B", 100, "190.00"), new("b2", "B", 50, "190.00", "C3"),
        new("b3", "B", 70, "189.50"), new("s1", "S", 40, "190.10", "C2"),
    ):  # fmt: skip
        run(command)
    snap = md.snapshot("AAPL")
    assert snap.seq == 7
    later = run(new("b4", "B", 40, "190.10", "C3")) + run(cancel("x1", "b1", "B"))
    day_end = md.end_day(TS + 3_600_000_000)
    return snap, [e for e in later if not isinstance(e, StatusEntry)], day_end


def examples() -> dict[str, str]:
    snap, later, day_end = scenario()
    out = {}
    for begin in (FIX42, "FIX.4.4", FIXT11):
        out[f"W {begin}"] = shown(snapshot(begin, "r1", snap, TYPES[begin], 0))
        wanted = [e for e in later if entry_type(e) in TYPES[begin]]
        out[f"X {begin}"] = shown(incremental(begin, "r1", wanted))
        wanted = [e for e in day_end if entry_type(e) in TYPES[begin]]
        out[f"X day end {begin}"] = shown(incremental(begin, "r1", wanted))
        out[f"Y {begin}"] = shown(md_reject(begin, MDReject("r9", "0", "unknown symbol NOPE")))
    return out


def spec_messages() -> set[str]:
    """Every line of the spec's code blocks, continuation lines joined."""
    out: set[str] = set()
    for block in re.findall(r"```\n(.*?)```", SPEC.read_text(), re.S):
        line = ""
        for part in block.splitlines():
            line += part.strip()
            if not line.endswith("|"):
                out.add(line)
                line = ""
    return out


def test_every_w_x_and_y_example_in_the_spec_is_what_the_venue_sends_per_version():
    in_spec = spec_messages()
    missing = {name: text for name, text in examples().items() if text not in in_spec}
    assert not missing, "\n".join(f"{name}:\n{text}" for name, text in missing.items())
