"""Keep the garbage collector's full passes off the order path.

A full (generation 2) collection scans every tracked object: with tens of thousands of
resting orders that took 54-132 ms here, with the interpreter lock held, so every order in
flight waited (the loadgen's p99). The venue makes almost no cyclic garbage (about 1,800
objects freed by the collector over 40,000 orders; everything else is freed by reference
counting), so `venue run` freezes the heap every half second: what exists is moved out of
the collector's sight (O(1)), and a collection only ever scans the objects made since.
Cycles frozen while alive are kept until the next full collection, which runs once a day,
after the trading day ends.
"""

from __future__ import annotations

import gc
import time


def settle() -> None:
    """Collect what the start left behind, then freeze the rest (after recovery)."""
    gc.collect()
    gc.freeze()


def freeze() -> None:
    """Hide every object that exists now from future collections. O(1)."""
    gc.freeze()


def full_collection() -> tuple[int, float]:
    """Unfreeze, collect everything, freeze again: (objects freed, seconds taken)."""
    started = time.perf_counter()
    gc.unfreeze()
    freed = gc.collect()
    gc.freeze()
    return freed, time.perf_counter() - started
