"""Reference data the kernel needs: instruments and sessions. Built from settings."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from venue.domain.values import format_price


class Role(StrEnum):
    ORDER_ENTRY = "order_entry"
    DROP_COPY = "drop_copy"


@dataclass(frozen=True, slots=True)
class Instrument:
    symbol: str
    tick: int  # price units
    lot: int = 1

    def __post_init__(self) -> None:
        if self.tick <= 0 or self.lot <= 0:
            raise ValueError(f"{self.symbol}: tick and lot must be positive")

    @property
    def tick_text(self) -> str:
        return format_price(self.tick)


@dataclass(frozen=True, slots=True)
class SessionInfo:
    session: str  # the counterparty's CompID
    firm: str
    role: Role = Role.ORDER_ENTRY


@dataclass(frozen=True, slots=True)
class Reference:
    instruments: dict[str, Instrument]
    sessions: dict[str, SessionInfo]
