"""The heap policy of `venue run` (venue/heap.py): frozen objects are out of the collector's
sight until the daily full collection, which frees cycles made before it."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from venue import heap


@pytest.fixture(autouse=True)
def unfrozen() -> Iterator[None]:
    yield
    gc.unfreeze()


class Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the collector frees it


def test_cycle_made_after_the_freeze_is_collected() -> None:
    heap.settle()
    assert gc.get_freeze_count() > 0
    node = weakref.ref(Node())
    gc.collect()
    assert node() is None


def test_cycle_frozen_while_alive_waits_for_the_full_collection() -> None:
    node = Node()
    heap.freeze()
    ref = weakref.ref(node)
    del node
    gc.collect()
    assert ref() is not None  # frozen: not even looked at
    freed, _ = heap.full_collection()
    assert ref() is None and freed >= 1
    assert gc.get_freeze_count() > 0  # frozen again afterwards


def test_cycle_that_died_before_the_freeze_is_collected_not_frozen() -> None:
    heap.settle()
    node = Node()
    ref = weakref.ref(node)
    del node  # garbage, but only the collector can free it
    heap.freeze()
    assert ref() is None  # the freeze collected it instead of hiding it for the day
