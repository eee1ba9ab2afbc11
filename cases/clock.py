"""One clock (DESIGN §8): absolute instants everywhere, the county's zone for days, deadlines and "today".

- Every datetime the code handles is timezone-aware. `now()` is the current instant *in the county's zone*
  (`GRIDGOV_TIMEZONE`, default Asia/Shanghai), so `now().date()`, `.hour` and `.isoformat()` read as the
  county reads them, whatever the server's `TZ`.
- The database stores the instant (UTC on SQLite, `timestamptz` on PostgreSQL; `store.schema.Instant`) and
  gives it back in the county's zone; the API writes ISO 8601 with the county's offset
  (`2026-11-29T15:19:00+08:00`).
- A datetime without an offset — an old row, a phone that sends local time, `gridgov tick --at
  2026-10-08T17:30` — is read as the county's wall-clock time (`to_local`, `parse`).

The zone is set once from the settings (`configure`, called by `config.get_settings`); tests may shift the
clock with `GRIDGOV_TEST_NOW` (an ISO instant: the clock starts there and runs on).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

from i18n import T, Text

DEFAULT_ZONE = "Asia/Shanghai"

_zone: ZoneInfo = ZoneInfo(DEFAULT_ZONE)
_shift = timedelta(0)


def load_zone(name: str) -> ZoneInfo:
    """The IANA zone `name` (Asia/Shanghai, Asia/Urumqi …); ValueError naming it when it is unknown."""
    try:
        if not name or name != name.strip() or name.startswith(("/", ".")) or ".." in name:
            raise ValueError(name)
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(T("unknown time zone {name}: GRIDGOV_TIMEZONE takes an IANA zone name such as {zone}",
                           name=repr(name), zone=DEFAULT_ZONE)) from None


def configure(name: str | ZoneInfo = DEFAULT_ZONE, *, test_now: str | None = None) -> None:
    """Set the county's zone (and, for tests, where the clock starts: GRIDGOV_TEST_NOW by default)."""
    global _zone, _shift
    _zone = name if isinstance(name, ZoneInfo) else load_zone(name)
    start = test_now if test_now is not None else os.environ.get("GRIDGOV_TEST_NOW")
    _shift = timedelta(0)
    if start:
        _shift = parse(start, where="GRIDGOV_TEST_NOW")[0] - datetime.now(UTC)


def zone() -> ZoneInfo:
    """The county's time zone."""
    return _zone


def zone_name() -> str:
    """The county's zone as its IANA name (what the pages get to format times)."""
    return _zone.key


def now() -> datetime:
    """The current instant, in the county's zone."""
    return (datetime.now(UTC) + _shift).astimezone(_zone)


def today() -> date:
    """Today's date in the county (what versions, rules and routing mean by "today")."""
    return now().date()


def to_local(dt: datetime) -> datetime:
    """The same instant in the county's zone; a naive datetime is read as the county's wall-clock time."""
    if dt.tzinfo is None:
        return dt.replace(tzinfo=_zone)
    return dt.astimezone(_zone)


def iso_seconds(times: Sequence[int | None]) -> list[str | None]:
    """Unix times (whole seconds) as ISO 8601 on the county's clock, to the second — what
    `to_local(t).isoformat(timespec="seconds")` writes for each, None for None — for thousands at once (a map
    feed): the zone's offset is looked up once per hour the times fall in, and value by value only in an hour
    where the offset changes (a zone changes it at most once an hour)."""
    known = np.array([t is not None for t in times], dtype=bool)
    secs = np.array([t if t is not None else 0 for t in times], dtype=np.int64)
    hours, where = np.unique(secs // 3600, return_inverse=True)
    offsets = np.empty(len(hours), dtype=np.int64)
    mixed = np.zeros(len(hours), dtype=bool)
    for i, h in enumerate(hours.tolist()):
        first, last = (datetime.fromtimestamp(h * 3600 + s, _zone).utcoffset() for s in (0, 3599))
        offsets[i] = (first or timedelta(0)) // timedelta(seconds=1)
        mixed[i] = first != last
    offset = offsets[where]
    for j in np.flatnonzero(mixed[where]).tolist():
        offset[j] = (datetime.fromtimestamp(int(secs[j]), _zone).utcoffset() or timedelta(0)) // timedelta(seconds=1)
    text = np.datetime_as_string((secs + offset).astype("datetime64[s]"), unit="s").tolist()
    signs = {int(o): _offset_text(int(o)) for o in np.unique(offset).tolist()}
    return [t + signs[o] if k else None for t, o, k in zip(text, offset.tolist(), known.tolist(), strict=True)]


def _offset_text(seconds: int) -> str:
    """+08:00, -03:30 (and +05:53:28 for a zone's local mean time, as isoformat writes it)."""
    sign, rest = ("-", -seconds) if seconds < 0 else ("+", seconds)
    h, m, s = rest // 3600, rest % 3600 // 60, rest % 60
    return f"{sign}{h:02d}:{m:02d}" + (f":{s:02d}" if s else "")


def to_utc(dt: datetime) -> datetime:
    """The same instant in UTC (a naive datetime is read in the county's zone)."""
    return to_local(dt).astimezone(UTC)


def wall(dt: datetime) -> datetime:
    """The county's wall-clock time of an instant, naive (for calendar arithmetic: working hours, dates)."""
    return to_local(dt).replace(tzinfo=None)


def from_wall(dt: datetime) -> datetime:
    """An instant from the county's wall-clock time (naive), in the county's zone."""
    return dt.replace(tzinfo=_zone) if dt.tzinfo is None else dt.astimezone(_zone)


def parse(text: str, where: str = "at") -> tuple[datetime, bool]:
    """An ISO 8601 date-time (a trailing Z is UTC) as an instant in the county's zone, and whether the offset
    was assumed (the text had none: read in the county's zone). ValueError on anything else."""
    value = text.strip()
    if value[-1:] in ("Z", "z"):
        value = value[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(T("{where} must be an ISO 8601 date-time, got {text}", where=where, text=repr(text))) from None
    return to_local(dt), dt.tzinfo is None


def iso(dt: datetime | None) -> str | None:
    """ISO 8601 with the county's offset (2026-11-29T15:19:00+08:00), or None."""
    return to_local(dt).isoformat() if dt is not None else None


def assumed_note(where: str) -> Text:
    """What an answer says when it read a time without an offset in the county's zone (`str()`: English)."""
    return T("{where} had no UTC offset: read as {zone} time", where=where, zone=_zone.key)
