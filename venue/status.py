"""A read-only picture of the running venue for the operator console (`status` query).

`kernel_status` runs on the kernel thread (the single writer), so it reads a consistent
state without locks; it copies only the top `depth` levels of each book and a few small
maps, so it costs the kernel thread tens of microseconds. The console asks at most a few
times a second (venue/console/live.py conflates its viewers). `session_status` reads
QuickFIX's session state and runs on the control channel's thread.
"""

from __future__ import annotations

from typing import Any

from venue.domain.values import Side, format_price
from venue.kernel import Kernel


def _px(units: int | None) -> str | None:
    return None if units is None else format_price(units)


def kernel_status(kernel: Kernel, depth: int = 20) -> dict[str, Any]:
    books = {}
    for symbol, engine in kernel.engines.items():
        sides = {}
        for side, name in ((Side.BUY, "bids"), (Side.SELL, "asks")):
            levels: list[list[object]] = []
            for level in engine.book.levels(side):
                if len(levels) >= depth:
                    break
                levels.append([format_price(level.price), level.qty, len(level.orders)])
            sides[name] = levels
        books[symbol] = {
            **sides,
            "last_px": _px(kernel.last_trade_px.get(symbol)),
            "halted": symbol in kernel.halted,
            "phase": kernel.phase[symbol].value,
        }
    return {
        "seq": kernel.counters.seq,
        "live_orders": len(kernel.live),
        "books": books,
        "blocked": sorted([scope, key] for scope, key in kernel.blocked),
        "instruments": {
            s: {
                "tick": format_price(i.tick),
                "lot": i.lot,
                "reference_price": _px(i.reference_price),
                "collar_pct": None if i.collar_bps is None else i.collar_bps / 100,
                "max_order_qty": i.max_order_qty,
                "max_order_notional": _px(i.max_order_notional),
                "restricted": i.restricted,
            }
            for s, i in kernel.instruments.items()
        },
        "firms": {
            f: {
                "credit_limit": _px(firm.credit_limit),
                "stp_mode": str(firm.stp_mode.value),
                "open_notional": format_price(kernel.firm_open.get(f, 0)),
                "executed_notional": format_price(kernel.firm_executed.get(f, 0)),
            }
            for f, firm in kernel.firms.items()
        },
        "session_limits": {
            s: {
                "firm": info.firm,
                "role": str(info.role.value),
                "max_orders_per_second": info.max_orders_per_second,
                "cancel_on_disconnect": info.cancel_on_disconnect,
            }
            for s, info in kernel.sessions.items()
        },
    }
