"""Settings (pydantic-settings, VENUE_ prefix) and the venue's reference data file.

Every setting has an embedded default, so `venue run` works with no configuration: data
under ./var, SQLite at var/venue.db, the demo sessions and instruments in fix_config/.
Nested groups use a double underscore: VENUE_JOURNAL__FSYNC=false.
"""

from __future__ import annotations

import tomllib
from decimal import Decimal
from pathlib import Path

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from venue.domain.reference import Instrument, Reference, Role, SessionInfo
from venue.domain.values import price_from_decimal

FIX_CONFIG_DIR = Path(__file__).resolve().parent.parent / "fix_config"


class JournalSettings(BaseModel):
    fsync: bool = Field(True, description="fsync each group commit before reports leave")
    segment_mb: int = Field(64, description="roll to a new journal segment after this size")


class VenueSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VENUE_", env_nested_delimiter="__")

    port: int = 9878
    data_dir: Path = Path("var")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; default sqlite:///<data_dir>/venue.db"
    )
    acceptor_config: Path = FIX_CONFIG_DIR / "acceptor.cfg"
    reference_config: Path = FIX_CONFIG_DIR / "venue.toml"
    journal: JournalSettings = JournalSettings()

    @property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'venue.db').resolve()}"


def load_reference(path: Path) -> Reference:
    """Instruments and sessions from the venue's TOML file."""
    with open(path, "rb") as f:
        data = tomllib.load(f)
    instruments = {
        symbol: Instrument(symbol, price_from_decimal(Decimal(str(spec["tick"]))), int(spec["lot"]))
        for symbol, spec in data.get("instruments", {}).items()
    }
    sessions = {
        comp_id: SessionInfo(comp_id, spec.get("firm", ""), Role(spec.get("role", "order_entry")))
        for comp_id, spec in data.get("sessions", {}).items()
    }
    return Reference(instruments, sessions)
