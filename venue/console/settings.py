"""The console's settings: VENUE_CONSOLE_HOST / VENUE_CONSOLE_PORT, plus the venue's own
(data directory for the control channel, database URL, reference TOML for operators)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ConsoleSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VENUE_CONSOLE_")

    host: str = Field("127.0.0.1", description="address the console listens on")
    port: int = Field(8780, description="console HTTP port")
    refresh_per_second: float = Field(
        2.0, gt=0, le=20, description="at most this many status queries a second to the venue"
    )
    session_hours: float = Field(12.0, gt=0, description="a login lasts this long")
