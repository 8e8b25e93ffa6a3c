"""Identifiers: distinct types over int, so that mypy rejects a TradeId where an OrderId
belongs. At run time each is the int itself (the journal and snapshots hold plain ints).

    OrderId  the venue's OrderID(37), one per order (also one per rejected order message)
    TradeId  one per match (TradeExecuted), what a bust names
    Seq      the venue-wide event sequence number, every event has one
    ExecId   the ExecID(17) of a report: the Seq of the event it reports (ExecRefID(19)
             of a trade cancel names a fill's ExecId)

Calling OrderId(x) costs a Python call: the id source (venue.matching.Counters) hands out
typed ids without one; the FIX decode and the control channel convert what they parse.
"""

from __future__ import annotations

from typing import NewType

OrderId = NewType("OrderId", int)
TradeId = NewType("TradeId", int)
Seq = NewType("Seq", int)
ExecId = NewType("ExecId", int)
