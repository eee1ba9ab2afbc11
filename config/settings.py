"""Settings from the environment (`GRIDGOV_*`) or a `.env` file."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from cases import clock
from cases.calendar import WorkCalendar, bundled_calendar, load_calendar


class Settings(BaseSettings):
    """Everything configurable; defaults give the embedded SQLite demo."""

    model_config = SettingsConfigDict(env_prefix="GRIDGOV_", env_file=".env", extra="ignore")

    data_dir: Path = Field(default=Path("var"), description="where the SQLite file and uploads live")
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; PostgreSQL+PostGIS in production")
    host: str = "127.0.0.1"
    port: int = 8000
    fallback_team: str | None = Field(default=None, description="team for gaps and disputes; default county bureau")
    language: str = Field(default="zh-CN", description="language of pages, answers and messages: zh-CN or en "
                                                       "(a request's ?lang= or Accept-Language wins)")
    max_batch: int = Field(default=100_000, description="largest batch accepted by one request")
    db_pool_size: int = Field(default=10, ge=1, le=1000, description="database connections kept open per worker")
    db_max_overflow: int = Field(default=30, ge=0, le=1000, description="extra connections a burst may open")
    db_pool_timeout: float = Field(default=30.0, gt=0, description="seconds a request waits for a connection")
    max_upload_mib: int = 50
    header_timeout_seconds: float = Field(
        default=10.0, gt=0, le=3600, description="a client must send a request's headers within this (slowloris)")
    body_timeout_seconds: float = Field(
        default=30.0, gt=0, le=3600, description="longest silence while a client sends a request body")
    keep_alive_seconds: int = Field(default=5, ge=1, le=3600, description="an idle kept-alive connection closes")
    token_ttl_hours: float = Field(default=12.0, description="how long a sign-in token lasts")
    recheck_seconds: float = Field(
        default=2.0, ge=0, le=300,
        description="how long a worker trusts a token check or the version in force without asking the database "
                    "when no process on this host recorded a change (store/epochs.py); 0 asks on every request")
    hotspot_cache_seconds: float = Field(
        default=300.0, ge=0, le=86_400,
        description="how long a worker keeps a hotspot answer (GET /hotspots over the whole county) while no report "
                    "it counted changed (api/hotspot_cache.py); 0 computes every answer afresh")
    signin_window_minutes: float = Field(
        default=15.0, gt=0, description="failed sign-ins are counted over this window (per account, per address)")
    signin_account_failures: int = Field(
        default=5, ge=1, description="failed sign-ins of one account within the window that lock it")
    signin_lock_minutes: float = Field(
        default=15.0, gt=0, description="how long a locked account stays locked (a dispatcher can unlock it sooner)")
    signin_address_failures: int = Field(
        default=30, ge=1, description="failed sign-ins from one client address within the window before it waits "
                                      "(accounts that signed in from that address before are exempt)")
    timezone: str = Field(
        default=clock.DEFAULT_ZONE, description="the county's time zone (IANA name): days, deadlines, working hours "
                                                "and \"today\" are counted in it, and pages and answers show it")
    calendar: str = Field(default="cn", description="working calendar: a bundled name (cn) or a JSON file")
    indicators_config: Path | None = Field(
        default=None, description="JSON of the indicators' composite-score weights, grades and delegation-review "
                                  "thresholds; default the bundled config/indicators.json")
    tick_seconds: float = Field(default=60.0, ge=0, description="escalation scheduler period; 0 turns it off")
    topology_tolerance_m2: float = Field(default=1.0, ge=0, description="overlaps and gaps below this are noise")
    max_photo_mib: float = Field(default=10.0, gt=0, description="largest photo accepted")
    media_dir: Path | None = Field(default=None, description="where photos are stored; default data_dir/media")
    wall_refresh_seconds: float = Field(default=5.0, gt=0, le=3600, description="how often map pages poll for changes")
    basemap_url: str | None = Field(
        default=None, description="optional intranet tile URL template ({z}/{x}/{y}); default no basemap")
    basemap_file: Path | None = Field(
        default=None, description="optional local MBTiles or PMTiles file of raster tiles, served at "
                                  "/basemap/{z}/{x}/{y}")
    basemap_attribution: str = Field(default="", max_length=300, description="text shown for the basemap")
    demo_sign_in: bool = Field(
        default=False, description="pages sign in with the demo accounts by themselves (set by `gridgov demo` only)")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        clock.load_zone(value)  # an unknown zone stops start-up with a message naming it
        return value

    def resolved_media_dir(self) -> Path:
        """Where uploaded photos live (outside the database, named by their SHA-256)."""
        return self.media_dir or self.data_dir / "media"

    def work_calendar(self) -> WorkCalendar:
        """The working calendar deadlines are counted on."""
        if self.calendar.endswith(".json"):
            return load_calendar(self.calendar)
        return bundled_calendar(self.calendar)

    def resolved_database_url(self) -> str:
        """The database URL, defaulting to a SQLite file in data_dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'gridgov.sqlite').resolve()}"


def get_settings(**overrides: object) -> Settings:
    """Build the settings now (never at import time), with explicit overrides winning; sets the one clock's zone."""
    settings = Settings(**overrides)  # type: ignore[arg-type]
    clock.configure(settings.timezone)
    return settings
