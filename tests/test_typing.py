"""The id types are distinct for mypy (venue/domain/ids.py): a TradeId where an OrderId
belongs is a type error in the kernel, the book, the engine, commands and events. Each case
runs mypy, with the project's settings, on a few lines that use the real signatures."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from mypy import api

ROOT = Path(__file__).resolve().parent.parent

HEADER = """\
from venue.domain.commands import BustTrade, CancelOrder
from venue.domain.events import OrderFilled, TradeExecuted
from venue.domain.ids import ExecId, OrderId, Seq, TradeId
from venue.domain.values import Side
from venue.kernel import Kernel
from venue.matching import Counters, MatchingEngine

"""

WRONG = {
    "trade id as a live order's key": (
        "def f(k: Kernel, t: TradeExecuted) -> None:\n    k.live.get(t.trade_id)\n"
    ),
    "trade id as a book's order key": (
        "def f(e: MatchingEngine, t: TradeExecuted) -> None:\n    e.book.orders[t.trade_id]\n"
    ),
    "trade id as the OrderID of a cancel": (
        "def f(t: TradeExecuted) -> CancelOrder:\n"
        "    return CancelOrder('S', 'c2', 'c1', 'AAPL', Side.BUY, t.trade_id)\n"
    ),
    "order id in a bust": (
        "def f(t: TradeExecuted) -> BustTrade:\n    return BustTrade('op', t.buy_order_id)\n"
    ),
    "a new order id where a trade id belongs": (
        "def f(c: Counters) -> TradeId:\n    return c.next_order_id()\n"
    ),
    "sequence number as ExecID": ("def f(e: OrderFilled) -> ExecId:\n    return e.seq\n"),
    "plain int as an order id": ("def f(k: Kernel) -> None:\n    k.live.get(7)\n"),
    "trade id as a finished order's key": (
        "def f(k: Kernel, e: OrderFilled) -> None:\n    k._done.get(e.trade_id)\n"
    ),
}

RIGHT = (
    "def f(k: Kernel, t: TradeExecuted, e: OrderFilled, c: Counters) -> None:\n"
    "    k.live.get(t.buy_order_id)\n"
    "    k.live.get(e.order.order_id)\n"
    "    BustTrade('op', t.trade_id)\n"
    "    CancelOrder('S', 'c2', 'c1', 'AAPL', Side.BUY, OrderId(7))\n"
    "    seq: Seq = c.next_seq()\n"
    "    k.trades.get(c.next_trade_id())\n"
    "    n: int = t.trade_id + seq  # still ints for arithmetic and the journal\n"
)


def mypy(tmp_path: Path, body: str) -> tuple[int, str]:
    snippet = tmp_path / "snippet.py"
    snippet.write_text(HEADER + body)
    out, err, status = api.run(
        ["--config-file", str(ROOT / "pyproject.toml"), "--cache-dir", str(ROOT / ".mypy_cache"),
         str(snippet)]
    )  # fmt: skip
    return status, out + err


@pytest.mark.parametrize("case", sorted(WRONG))
def test_mypy_rejects_an_id_of_the_wrong_kind(tmp_path, case):
    status, out = mypy(tmp_path, WRONG[case])
    assert status == 1, out
    wrong_kind = r"snippet\.py:\d+: error: .*(incompatible|invalid index|no overload variant)"
    assert re.search(wrong_kind, out, re.IGNORECASE), out


def test_mypy_accepts_ids_used_as_their_kind(tmp_path):
    status, out = mypy(tmp_path, RIGHT)
    assert status == 0, out
