"""Fixtures for the in-process venue (venue.testing.harness): milliseconds per test.

    harness_factory(**settings) -> Harness       closed at teardown
    harness_client_factory("CLIENT1") -> client  a FixClient look-alike on the last harness

HarnessClient has FixClient's API (new_order, cancel, replace, status, expect, wait_for,
drain, logout, reconnect), so a test written for the live venue runs on the harness by
swapping its fixtures. receive() never waits: once a call returns, the harness has
delivered everything, so an empty line is a proof, not a timeout.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fixclient import Fields, FixClient, FixTimeout, Message

from venue.testing.harness import Harness


class HarnessClient(FixClient):
    def __init__(self, harness: Harness, sender: str) -> None:
        super().__init__(0, sender, harness.begin_string(sender), "VENUE", 30)
        self.harness = harness

    @classmethod
    def logged_on_to(cls, harness: Harness, sender: str) -> HarnessClient:
        client = cls(harness, sender)
        client.reconnect(reset=True)
        return client

    def reconnect(self, reset: bool = False, timeout: float = 10.0) -> Message:
        self.close()
        self.harness.logon(self.sender)
        self.logged_on = True
        return {35: "A"}

    def logout(self, timeout: float = 10.0) -> Message | None:
        if self.logged_on:
            self.logged_on = False
            self.harness.logout(self.sender)
        return {35: "5"}

    def close(self) -> None:
        if self.logged_on:
            self.logged_on = False
            self.harness.disconnect(self.sender)

    def send(
        self, msg_type: str, fields: Fields = (), *, seq: int | None = None, poss_dup: bool = False
    ) -> int:
        items = list(fields.items()) if isinstance(fields, dict) else list(fields)  # type: ignore[union-attr]
        self.harness.send(self.sender, msg_type, items)
        self.next_out += 1
        return self.next_out - 1

    def send_raw(self, data: bytes) -> None:
        raise NotImplementedError("raw bytes need QuickFIX's session layer: use the live venue")

    def utc_now(self) -> str:
        ts = self.harness.clock()
        return time.strftime("%Y%m%d-%H:%M:%S", time.gmtime(ts // 1_000_000)) + ".000"

    def receive(self, timeout: float = 10.0) -> Message:
        for msg in self.harness.received(self.sender):
            self.received.append(msg)
            self._ready.append(msg)
        if not self._ready:
            raise FixTimeout(self._report("nothing more delivered"))
        return self._ready.pop(0)

    def sync(self, timeout: float = 10.0) -> list[Message]:
        """What was delivered (the harness has delivered everything once a call returns)."""
        return self.drain()

    def drain(self, quiet: float = 0.2) -> list[Message]:
        out = []
        while True:
            try:
                out.append(self.receive(0))
            except FixTimeout:
                return out


@pytest.fixture
def harness_factory(tmp_path: Path) -> Iterator[Callable[..., Harness]]:
    made: list[Harness] = []

    def make(**settings: Any) -> Harness:
        harness = Harness(tmp_path / f"data{len(made) or ''}", **settings)
        made.append(harness)
        return harness

    make.made = made  # type: ignore[attr-defined]
    yield make
    for harness in reversed(made):
        harness.close()


@pytest.fixture
def harness_client_factory(
    harness_factory: Callable[..., Harness],
) -> Callable[..., HarnessClient]:
    def make(sender: str = "CLIENT1", **_: object) -> HarnessClient:
        made = harness_factory.made  # type: ignore[attr-defined]
        harness = made[-1] if made else harness_factory()
        return HarnessClient.logged_on_to(harness, sender)

    return make
