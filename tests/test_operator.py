"""Operator actions as typed commands with a typed refusal (venue/domain/operator.py): the
journaled OperatorAction is parsed into one command per action; what the kernel refuses
is a Refusal value said in OperatorActionApplied, and an error inside the kernel stays an
error instead of reading as a refusal."""

from __future__ import annotations

import pytest
from core_helpers import kernel, new

from venue.domain.commands import OperatorAction
from venue.domain.events import OperatorActionApplied
from venue.domain.operator import (
    CancelAll,
    ChangePhase,
    EngageKillSwitch,
    Halt,
    Refusal,
    ReleaseKillSwitch,
    Resume,
    SetLimit,
    parse,
)
from venue.domain.reference import Instrument
from venue.kernel import Kernel
from venue.risk.limits import changed


def act(action: str, scope: str, key: str = "", field: str = "", value: str | None = None):
    return OperatorAction("alice", action, scope, key, field, value)


@pytest.mark.parametrize(
    ("action", "typed"),
    [
        (act("halt", "instrument", "AAPL"), Halt("alice", "AAPL")),
        (act("resume", "instrument", "AAPL"), Resume("alice", "AAPL")),
        (act("phase", "instrument", "AAPL", value="pre-open"),
         ChangePhase("alice", "AAPL", "pre-open")),
        (act("kill", "firm", "FIRM1"), EngageKillSwitch("alice", "firm", "FIRM1")),
        (act("release", "venue"), ReleaseKillSwitch("alice", "venue", "")),
        (act("cancel_all", "instrument", "AAPL"), CancelAll("alice", "instrument", "AAPL")),
        (act("set_limit", "firm", "FIRM1", "credit_limit", "10"),
         SetLimit("alice", "firm", "FIRM1", "credit_limit", "10")),
    ],
)  # fmt: skip
def test_each_operator_action_parses_into_its_typed_command(action, typed):
    assert parse(action) == typed


@pytest.mark.parametrize(
    ("action", "text"),
    [
        (act("halt", "firm", "FIRM1"), "halt and resume apply to an instrument"),
        (act("phase", "venue"), "phase applies to an instrument"),
        (act("kill", "instrument", "AAPL"),
         "the kill switch applies to a session, a firm or the venue"),
        (act("set_limit", "venue", field="credit_limit", value="1"),
         "limits are set per instrument, firm or session"),
        (act("halt", "desk", "D1"), "unknown scope desk"),
        (act("explode", "venue"), "unknown action explode"),
    ],
)  # fmt: skip
def test_an_action_that_does_not_fit_its_scope_is_a_refusal(action, text):
    assert parse(action) == Refusal(text)


def test_the_kernel_says_its_refusals_in_the_event_and_changes_nothing():
    k = kernel()
    cases = [
        (act("release", "firm", "FIRM1"), "no kill switch engaged for firm FIRM1"),
        (act("phase", "instrument", "AAPL", value="continuous"), "AAPL is already continuous"),
        (act("phase", "instrument", "AAPL", value="auction"),
         "AAPL is continuous: an auction ends a call (pre-open, pre-close or a call)"),
        (act("halt", "instrument", "NOPE"), "unknown symbol NOPE"),
        (act("halt", "session", "NOPE"), "unknown session NOPE"),
        (act("set_limit", "session", "C1", "max_orders_per_second", "-1"),
         "max_orders_per_second must not be negative"),
        (act("set_limit", "instrument", "AAPL", "max_order_qty", "lots"),
         "bad value 'lots' for max_order_qty: invalid literal for int() with base 10: 'lots'"),
    ]  # fmt: skip
    before = k.export_state()
    for ts, (action, text) in enumerate(cases, 1):
        [event] = k.handle(action, ts)
        assert isinstance(event, OperatorActionApplied) and not event.ok
        assert event.text == text
    assert {**k.export_state(), "counters": None, "last_ts": None} == {
        **before, "counters": None, "last_ts": None,
    }  # fmt: skip


def test_an_error_inside_an_operator_action_is_raised_not_read_as_a_refusal(monkeypatch):
    k = kernel()
    k.handle(new("b", "B", 10), 1)

    def broken(*args, **kwargs):
        raise ValueError("a bug, not a refusal")

    monkeypatch.setattr(Kernel, "_cancel_where", broken)
    with pytest.raises(ValueError, match="a bug"):
        k.handle(act("kill", "firm", "FIRM1"), 2)


def test_a_bad_limit_value_is_a_refusal_value_not_an_exception():
    aapl = Instrument("AAPL", 1)
    assert changed(aapl, "instrument", "max_order_qty", "x") == Refusal(
        "bad value 'x' for max_order_qty: invalid literal for int() with base 10: 'x'"
    )
    assert changed(aapl, "instrument", "nope", "1") == Refusal(
        "unknown instrument limit 'nope' (allowed: " + ", ".join(
            ["reference_price", "collar_pct", "max_order_qty", "max_order_notional",
             "restricted", "dynamic_band_pct", "static_band_pct", "interruption_secs",
             "resume_call_secs", "extension_pct", "extension_secs"]
        ) + ")"
    )  # fmt: skip
    assert changed(aapl, "instrument", "max_order_qty", "5") == Instrument(
        "AAPL", 1, max_order_qty=5
    )
