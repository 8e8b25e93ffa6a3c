"""Keep the garbage collector's full passes off the order path.

A full (generation 2) collection scans every tracked object: with tens of thousands of
resting orders that took 54-132 ms here, with the interpreter lock held, so every order in
flight waited (the loadgen's p99). The venue makes almost no cyclic garbage (about 1,800
objects freed by the collector over 40,000 orders; everything else is freed by reference
counting), so `venue run` freezes the heap every half second: what exists is moved out of
the collector's sight (O(1)), and a collection only ever scans the objects made since.
Cycles frozen while alive are kept until the next full collection, which runs once a day,
after the trading day ends.

So that the frozen set does not grow with the number of orders: each freeze first collects
the young generations (the objects made since the last freeze, which is what the automatic
collections scan anyway), so cycles that already died are freed instead of frozen; what the
kernel keeps for the day (finished orders, trades) is tuples of str/int, which the collector
stops tracking; and `frozen()` is logged once a minute by `venue run`, so that growth shows.
"""

from __future__ import annotations

import gc
import time


def settle() -> None:
    """Collect what the start left behind, then freeze the rest (after recovery)."""
    gc.collect()
    gc.freeze()


def freeze() -> None:
    """Collect the young generations, then hide every object left from future collections.
    O(objects made since the last freeze)."""
    gc.collect(1)
    gc.freeze()


def frozen() -> int:
    """How many objects are frozen now."""
    return gc.get_freeze_count()


def full_collection() -> tuple[int, float]:
    """Unfreeze, collect everything, freeze again: (objects freed, seconds taken)."""
    started = time.perf_counter()
    gc.unfreeze()
    freed = gc.collect()
    gc.freeze()
    return freed, time.perf_counter() - started
