"""Settings from the environment (`GRIDGOV_*`) or a `.env` file."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything configurable; defaults give the embedded SQLite demo."""

    model_config = SettingsConfigDict(env_prefix="GRIDGOV_", env_file=".env", extra="ignore")

    data_dir: Path = Field(default=Path("var"), description="where the SQLite file and uploads live")
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; PostgreSQL+PostGIS in production")
    host: str = "127.0.0.1"
    port: int = 8000
    fallback_team: str | None = Field(default=None, description="team for gaps and disputes; default county bureau")
    max_batch: int = Field(default=100_000, description="largest batch accepted by one request")
    max_upload_mib: int = 50
    token_ttl_hours: float = Field(default=12.0, description="how long a sign-in token lasts")

    def resolved_database_url(self) -> str:
        """The database URL, defaulting to a SQLite file in data_dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'gridgov.sqlite').resolve()}"


def get_settings(**overrides: object) -> Settings:
    """Build the settings now (never at import time), with explicit overrides winning."""
    return Settings(**overrides)  # type: ignore[arg-type]
