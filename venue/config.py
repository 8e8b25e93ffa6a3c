"""Settings (pydantic-settings, VENUE_ prefix) and the venue's reference data file.

Every setting has an embedded default, so `venue run` works with no configuration: data
under ./var, SQLite at var/venue.db, the demo sessions and instruments in fix_config/.
Nested groups use a double underscore: VENUE_JOURNAL__FSYNC=false.
"""

from __future__ import annotations

import tomllib
from datetime import time
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from venue.domain.reference import Firm, Instrument, Reference, Role, SessionInfo, StpMode
from venue.domain.values import price_from_decimal

FIX_CONFIG_DIR = Path(__file__).resolve().parent.parent / "fix_config"


class JournalSettings(BaseModel):
    fsync: bool = Field(True, description="fsync each group commit before reports leave")
    segment_mb: int = Field(64, description="roll to a new journal segment after this size")
    snapshot_every: int = Field(
        50_000, description="write a snapshot of the books after this many journal records"
    )
    snapshot_by: Literal["replica", "kernel"] = Field(
        "replica",
        description="who writes the periodic snapshots: a replica process replaying the "
        "journal (the kernel thread never stops for one), or the kernel thread itself (it "
        "stops to copy the state: the behaviour before, kept to compare)",
    )


class RetentionSettings(BaseModel):
    """What the venue remembers of the trading day beyond the live book (memory is bounded
    by these; spec/rules-of-engagement.md, "Retention")."""

    done_orders: int = Field(
        100_000, ge=1, description="finished orders kept for status requests and too-late answers"
    )
    trades: int = Field(100_000, ge=1, description="the day's latest trades kept bustable")


class VenueSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VENUE_", env_nested_delimiter="__")

    host: str = Field("127.0.0.1", description="address the FIX port listens on")
    port: int = Field(9878, description="FIX port clients connect to")
    data_dir: Path = Path("var")
    group_access: bool = Field(
        False,
        description="data directory 2750 and files 0640 for the group owning it (an operator "
        "group), instead of 0700 and 0600",
    )
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; default sqlite:///<data_dir>/venue.db"
    )
    acceptor_config: Path = FIX_CONFIG_DIR / "acceptor.cfg"
    reference_config: Path = FIX_CONFIG_DIR / "venue.toml"
    journal: JournalSettings = Field(default_factory=JournalSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    fix_message_log: bool = Field(
        True, description="log every FIX message (passwords blanked) and session event, fix/log"
    )
    fix_hop: bool = Field(
        True,
        description="relay FIX connections through the gatekeeper, which frames every inbound "
        "message and drops garbled ones at once (off: the client's socket is handed to QuickFIX)",
    )
    fix_send_buffer_mb: int = Field(
        16,
        ge=1,
        description="with fix_hop: bytes held for a client that does not read; past them the "
        "connection is closed as a slow consumer",
    )
    metrics_port: int | None = Field(
        None, description="serve Prometheus /metrics of the order path on 127.0.0.1:PORT"
    )
    trading_day_end: time = Field(
        time(21, 0), description="UTC time at which Day orders expire (16:00 New York, winter)"
    )

    @property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'venue.db').resolve()}"


def _money(value: object) -> int:
    return price_from_decimal(Decimal(str(value)))


# Schedule keys of an instrument in venue.toml (UTC "HH:MM") and the step each begins.
_SCHEDULE_STEPS = {
    "pre_open": "pre-open", "open_auction": "open-auction", "pre_close": "pre-close",
    "close_auction": "close-auction", "closed": "closed",
}  # fmt: skip


def _bps(value: object) -> int:
    return int(Decimal(str(value)) * 100)


def _phase_settings(symbol: str, spec: dict) -> dict[str, Any]:
    """Bands, call lengths, extension and the schedule of one instrument (all optional)."""
    out: dict[str, Any] = {}
    bands = (
        ("dynamic_band_pct", "dynamic_band_bps"),
        ("static_band_pct", "static_band_bps"),
        ("extension_pct", "extension_bps"),
    )
    for key, attr in bands:
        if key in spec:
            out[attr] = _bps(spec[key])
    for key in ("interruption_secs", "resume_call_secs", "extension_secs"):
        if key in spec:
            out[key] = int(spec[key])
    steps = []
    for key, step in _SCHEDULE_STEPS.items():
        if key in spec:
            at = time.fromisoformat(str(spec[key]))
            steps.append((at.hour * 3600 + at.minute * 60 + at.second, step))
    if steps:
        if [t for t, _ in steps] != sorted({t for t, _ in steps}):
            order = ", ".join(k for k in _SCHEDULE_STEPS if k in spec)
            raise ValueError(f"{symbol}: schedule times must rise in the order {order}")
        out["schedule"] = tuple(steps)
    return out


def load_reference(path: Path) -> Reference:
    """Instruments, firms and sessions from the venue's TOML file (see fix_config/venue.toml)."""
    with open(path, "rb") as f:
        data = tomllib.load(f)
    instruments = {}
    for symbol, spec in data.get("instruments", {}).items():
        instruments[symbol] = Instrument(
            symbol,
            _money(spec["tick"]),
            int(spec.get("lot", 1)),
            reference_price=_money(spec["reference_price"]) if "reference_price" in spec else None,
            collar_bps=int(Decimal(str(spec["collar_pct"])) * 100)
            if "collar_pct" in spec
            else None,
            max_order_qty=spec.get("max_order_qty"),
            max_order_notional=_money(spec["max_order_notional"])
            if "max_order_notional" in spec
            else None,
            restricted=bool(spec.get("restricted", False)),
            post_only_slide=bool(spec.get("post_only_slide", False)),
            **_phase_settings(symbol, spec),
        )
    firms = {
        name: Firm(
            name,
            credit_limit=_money(spec["credit_limit"]) if "credit_limit" in spec else None,
            stp_mode=StpMode(spec.get("stp_mode", "R")),
        )
        for name, spec in data.get("firms", {}).items()
    }
    sessions = {
        comp_id: SessionInfo(
            comp_id,
            spec.get("firm", ""),
            Role(spec.get("role", "order_entry")),
            max_orders_per_second=spec.get("max_orders_per_second"),
            cancel_on_disconnect=bool(spec.get("cancel_on_disconnect", True)),
            cancel_gtc_on_disconnect=bool(spec.get("cancel_gtc_on_disconnect", False)),
            username=spec.get("username"),
            password_hash=spec.get("password_hash"),
            copy_firms=tuple(spec.get("firms", ())),
            max_md_subscriptions=spec.get("max_md_subscriptions"),
        )
        for comp_id, spec in data.get("sessions", {}).items()
    }
    return Reference(instruments, sessions, firms)
