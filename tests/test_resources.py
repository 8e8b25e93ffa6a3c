"""The shared test resources (venue/testing/resources.py): free ports that two pytest-xdist
workers never both pick."""

from __future__ import annotations

import socket

import pytest

from venue.testing import resources


@pytest.mark.parametrize("worker, workers", [("gw0", 2), ("gw1", 2), ("gw2", 3), ("gw0", 1)])
def test_free_port_is_bindable_below_the_ephemeral_range_and_in_the_workers_own_class(
    monkeypatch: pytest.MonkeyPatch, worker: str, workers: int
) -> None:
    monkeypatch.setenv("PYTEST_XDIST_WORKER", worker)
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", str(workers))
    low, high = resources.PORT_RANGE
    ports = [resources.free_port() for _ in range(50)]
    assert all(low <= p < high for p in ports), ports
    assert {p % workers for p in ports} == {int(worker[2:]) % workers}, ports
    assert len(set(ports)) > 40, "drawn at random, not one port again and again"
    with socket.socket() as s:
        s.bind(("127.0.0.1", ports[-1]))


def test_free_port_never_hands_out_a_port_someone_listens_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    monkeypatch.delenv("PYTEST_XDIST_WORKER_COUNT", raising=False)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", resources.free_port()))
        taken.listen()
        port = taken.getsockname()[1]
        monkeypatch.setattr(resources, "PORT_RANGE", (port, port + 1))
        with pytest.raises(RuntimeError, match="no free port"):
            resources.free_port()
