"""Operator actions as typed commands, and the typed refusal of one.

The control channel and the journal carry the one generic `OperatorAction` (its record
format is unchanged); `parse` turns it into one of the commands below, or a `Refusal` when
its action and scope do not go together. The kernel carries out a typed command and says
what it did, or returns a `Refusal`; either way the event is one OperatorActionApplied
(ok False with the refusal's text). A refusal is a value, never an exception: an error
inside the kernel stays an error instead of reading as a refusal.
"""

from __future__ import annotations

from dataclasses import dataclass

from venue.domain.commands import OperatorAction


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why an operator action was not carried out (said to the operator as is)."""

    text: str


@dataclass(frozen=True, slots=True)
class Halt:
    """New orders and replaces of the instrument are rejected; resting orders stay."""

    operator: str
    symbol: str


@dataclass(frozen=True, slots=True)
class Resume:
    operator: str
    symbol: str


@dataclass(frozen=True, slots=True)
class ChangePhase:
    """Move the instrument to a phase, or run its call's auction now (target "auction")."""

    operator: str
    symbol: str
    target: str


@dataclass(frozen=True, slots=True)
class EngageKillSwitch:
    """Cancel every live order of the scope and block its new orders."""

    operator: str
    scope: str  # session | firm | venue
    key: str


@dataclass(frozen=True, slots=True)
class ReleaseKillSwitch:
    operator: str
    scope: str
    key: str


@dataclass(frozen=True, slots=True)
class CancelAll:
    operator: str
    scope: str  # instrument | session | firm | venue
    key: str


@dataclass(frozen=True, slots=True)
class SetLimit:
    """Change one limit (venue.risk.limits.FIELDS); value None removes it."""

    operator: str
    scope: str  # instrument | firm | session
    key: str
    field: str
    value: str | None


OperatorCommand = (
    Halt | Resume | ChangePhase | EngageKillSwitch | ReleaseKillSwitch | CancelAll | SetLimit
)

SCOPES = ("instrument", "session", "firm", "venue")


def parse(action: OperatorAction) -> OperatorCommand | Refusal:
    """The typed command an OperatorAction asks for (its key is not checked here: the
    kernel knows which symbols, sessions and firms exist, and says so first)."""
    op, scope, key, what = action.operator, action.scope, action.key, action.action
    if scope not in SCOPES:
        return Refusal(f"unknown scope {scope}")
    if what in ("halt", "resume"):
        if scope != "instrument":
            return Refusal("halt and resume apply to an instrument")
        return Halt(op, key) if what == "halt" else Resume(op, key)
    if what == "phase":
        if scope != "instrument":
            return Refusal("phase applies to an instrument")
        return ChangePhase(op, key, action.value or "")
    if what == "kill":
        if scope == "instrument":
            return Refusal("the kill switch applies to a session, a firm or the venue")
        return EngageKillSwitch(op, scope, key)
    if what == "cancel_all":
        return CancelAll(op, scope, key)
    if what == "release":
        return ReleaseKillSwitch(op, scope, key)
    if what == "set_limit":
        if scope == "venue":
            return Refusal("limits are set per instrument, firm or session")
        return SetLimit(op, scope, key, action.field, action.value)
    return Refusal(f"unknown action {what}")


def where(scope: str, key: str) -> str:
    """The scope as a reply names it: "the venue", "firm FIRM1"."""
    return "the venue" if scope == "venue" else f"{scope} {key}"
