"""Tables. Geometry is PostGIS `geometry(…, 4326)` on PostgreSQL and WKB in a BLOB on SQLite.

The schema itself is created by the migrations in `store/migrations`; these classes only map it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import shapely
import sqlalchemy as sa
from geoalchemy2 import Geometry, WKBElement
from shapely.geometry.base import BaseGeometry
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator, TypeEngine

from cases import clock

JSONType = sa.JSON().with_variant(JSONB(), "postgresql")


class Geom(TypeDecorator[BaseGeometry]):
    """A shapely geometry column: PostGIS geometry with SRID, or WKB bytes on SQLite."""

    impl = sa.LargeBinary
    cache_ok = True

    def __init__(self, geometry_type: str = "GEOMETRY", srid: int = 4326) -> None:
        super().__init__()
        self.geometry_type = geometry_type
        self.srid = srid

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(Geometry(self.geometry_type, srid=self.srid, spatial_index=False))
        return dialect.type_descriptor(sa.LargeBinary())

    def process_bind_param(self, value: BaseGeometry | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        wkb = shapely.to_wkb(value)
        return WKBElement(wkb, srid=self.srid) if dialect.name == "postgresql" else wkb

    def process_result_value(self, value: Any, dialect: Dialect) -> BaseGeometry | None:
        if value is None:
            return None
        data = value.data if isinstance(value, WKBElement) else value
        return shapely.from_wkb(bytes(data))


class Instant(TypeDecorator[datetime]):
    """An absolute instant: `timestamptz` on PostgreSQL, UTC without an offset on SQLite (migration 0010).

    Read back in the county's zone (`cases.clock`), so `.date()` and `.isoformat()` are the county's; a naive
    value written is read as the county's wall-clock time. Every timestamp column uses this type."""

    impl = sa.DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        return dialect.type_descriptor(sa.DateTime(timezone=dialect.name == "postgresql"))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        utc = clock.to_utc(value)
        return utc if dialect.name == "postgresql" else utc.replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return clock.to_local(value if value.tzinfo is not None else value.replace(tzinfo=UTC))


def unix_seconds(column: Any, dialect_name: str) -> Any:
    """SQL: an `Instant` column as whole Unix seconds (rounded down, as `isoformat(timespec="seconds")` cuts), for
    answers that format thousands of them at once (`cases.clock.iso_seconds`)."""
    if dialect_name == "postgresql":
        return sa.cast(sa.func.floor(sa.extract("epoch", column)), sa.BigInteger)
    return sa.cast(sa.func.strftime("%s", column), sa.Integer)  # stored as UTC text (migration 0010)


def geometry_column_type(dialect_name: str, geometry_type: str, srid: int = 4326) -> TypeEngine[Any]:
    """The DDL type migrations use for a geometry column on this dialect."""
    if dialect_name == "postgresql":
        return Geometry(geometry_type, srid=srid, spatial_index=False)
    return sa.LargeBinary()


class Base(DeclarativeBase):
    pass


class VersionRow(Base):
    __tablename__ = "boundary_version"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    status: Mapped[str] = mapped_column(sa.String(16), default="draft")
    effective_from: Mapped[date | None] = mapped_column(sa.Date, nullable=True)
    effective_to: Mapped[date | None] = mapped_column(sa.Date, nullable=True)
    based_on_id: Mapped[int | None] = mapped_column(sa.ForeignKey("boundary_version.id"), nullable=True)
    revision: Mapped[int] = mapped_column(default=0)  # bumped on every edit: optimistic concurrency
    note: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[datetime] = mapped_column(Instant())
    published_at: Mapped[datetime | None] = mapped_column(Instant(), nullable=True)


class UnitRow(Base):
    __tablename__ = "unit"
    __table_args__ = (
        sa.UniqueConstraint("version_id", "code"),
        sa.Index("ix_unit_version_layer", "version_id", "layer"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(sa.ForeignKey("boundary_version.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(sa.String(64))
    name: Mapped[str] = mapped_column(sa.String(200))
    layer: Mapped[str] = mapped_column(sa.String(16))
    kind: Mapped[str] = mapped_column(sa.String(32))
    parent_code: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    geom: Mapped[BaseGeometry | None] = mapped_column(Geom("MULTIPOLYGON"), nullable=True)
    cells: Mapped[list[str] | None] = mapped_column(JSONType, nullable=True)
    derived: Mapped[bool] = mapped_column(default=False)
    raw_geom: Mapped[BaseGeometry | None] = mapped_column(Geom("GEOMETRY", srid=0), nullable=True)
    raw_crs: Mapped[str | None] = mapped_column(sa.String(32), nullable=True)


class AllowedGapRow(Base):
    """An area of a version that its layers may leave uncovered (a lake, a river): not a topology gap."""

    __tablename__ = "allowed_gap"
    __table_args__ = (sa.UniqueConstraint("version_id", "code", name="uq_allowed_gap_version_code"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(sa.ForeignKey("boundary_version.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(sa.String(64))
    name: Mapped[str] = mapped_column(sa.String(200))
    geom: Mapped[BaseGeometry] = mapped_column(Geom("MULTIPOLYGON"))
    note: Mapped[str] = mapped_column(sa.Text, default="")


class TeamRow(Base):
    __tablename__ = "team"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    kind: Mapped[str] = mapped_column(sa.String(32))
    parent_code: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    unit_code: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class MatterRow(Base):
    __tablename__ = "matter"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(sa.String(300))
    domain: Mapped[str] = mapped_column(sa.String(100))
    procedure: Mapped[str] = mapped_column(sa.String(16))
    time_limit: Mapped[int] = mapped_column()
    time_unit: Mapped[str] = mapped_column(sa.String(16))
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class DelegationRow(Base):
    __tablename__ = "delegation"
    __table_args__ = (sa.UniqueConstraint("version_id", "township_code", "matter_code"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(sa.ForeignKey("boundary_version.id", ondelete="CASCADE"))
    township_code: Mapped[str] = mapped_column(sa.String(64))
    matter_code: Mapped[str] = mapped_column(sa.String(64))
    # The delegation list's record (migration 0008): batch (批次), date, situation (赋权情形), note.
    batch: Mapped[str] = mapped_column(sa.String(100), default="")
    effective_from: Mapped[date | None] = mapped_column(sa.Date, nullable=True)
    situation: Mapped[str | None] = mapped_column(sa.String(16), nullable=True)
    note: Mapped[str] = mapped_column(sa.Text, default="")


class RuleRow(Base):
    __tablename__ = "rule"
    __table_args__ = (sa.UniqueConstraint("version_id", "code"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(sa.ForeignKey("boundary_version.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(sa.String(64))
    priority: Mapped[int] = mapped_column()
    scope: Mapped[dict[str, Any]] = mapped_column(JSONType)
    matters: Mapped[dict[str, Any]] = mapped_column(JSONType)
    team_code: Mapped[str] = mapped_column(sa.String(64))
    co_owner_codes: Mapped[list[str]] = mapped_column(JSONType, default=list)
    effective_from: Mapped[date | None] = mapped_column(sa.Date, nullable=True)
    effective_to: Mapped[date | None] = mapped_column(sa.Date, nullable=True)
    legal_basis: Mapped[str] = mapped_column(sa.Text, default="")
    description: Mapped[str] = mapped_column(sa.Text, default="")


class IncidentRow(Base):
    __tablename__ = "incident"
    __table_args__ = (sa.Index("ix_incident_reported_at", "reported_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str | None] = mapped_column(sa.String(100), unique=True, nullable=True)
    reported_at: Mapped[datetime] = mapped_column(Instant())
    matter_code: Mapped[str] = mapped_column(sa.String(64))
    lon: Mapped[float] = mapped_column(sa.Float)
    lat: Mapped[float] = mapped_column(sa.Float)
    geom: Mapped[BaseGeometry] = mapped_column(Geom("POINT"))
    raw_x: Mapped[float | None] = mapped_column(sa.Float, nullable=True)
    raw_y: Mapped[float | None] = mapped_column(sa.Float, nullable=True)
    raw_crs: Mapped[str] = mapped_column(sa.String(32), default="wgs84")
    accuracy_m: Mapped[float | None] = mapped_column(sa.Float, nullable=True)
    description: Mapped[str] = mapped_column(sa.Text, default="")
    reporter: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class UserRow(Base):
    __tablename__ = "app_user"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(64), unique=True)
    display_name: Mapped[str] = mapped_column(sa.String(200))
    role: Mapped[str] = mapped_column(sa.String(16))
    team_code: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    county_code: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)  # limited to one county
    language: Mapped[str | None] = mapped_column(sa.String(8), nullable=True)  # zh-CN | en; None: as asked
    password_hash: Mapped[str] = mapped_column(sa.String(300))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(Instant())


class TokenRow(Base):
    __tablename__ = "api_token"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("app_user.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    name: Mapped[str] = mapped_column(sa.String(200))
    created_at: Mapped[datetime] = mapped_column(Instant())
    expires_at: Mapped[datetime | None] = mapped_column(Instant(), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(Instant(), nullable=True)


class SignInGuardRow(Base):
    """Failed sign-ins in the current window of one account name or one client address, and a lock."""

    __tablename__ = "sign_in_guard"
    scope: Mapped[str] = mapped_column(sa.String(8), primary_key=True)  # account | address
    key: Mapped[str] = mapped_column(sa.String(64), primary_key=True)  # the name as typed, or the address
    failures: Mapped[int] = mapped_column(default=0)
    window_start: Mapped[datetime] = mapped_column(Instant())
    locked_until: Mapped[datetime | None] = mapped_column(Instant(), nullable=True)


class SignInEventRow(Base):
    """One sign-in attempt, lock or unlock (append-only: triggers refuse changes)."""

    __tablename__ = "sign_in_event"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(Instant())
    username: Mapped[str] = mapped_column(sa.String(64))
    client: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    outcome: Mapped[str] = mapped_column(sa.String(16))  # success | failure | refused | locked | unlocked
    actor: Mapped[str] = mapped_column(sa.String(64))  # who: the person signing in, "system", or who unlocked
    detail: Mapped[str] = mapped_column(sa.Text, default="")


class CaseRow(Base):
    __tablename__ = "case_record"
    id: Mapped[int] = mapped_column(primary_key=True)
    # Before migration 0006 keys were stored here, globally unique; now they live in report_key (per reporter).
    idempotency_key: Mapped[str | None] = mapped_column(sa.String(100), unique=True, nullable=True)
    body_hash: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    external_id: Mapped[str | None] = mapped_column(sa.String(100), unique=True, nullable=True)
    status: Mapped[str] = mapped_column(sa.String(16))
    matter_code: Mapped[str] = mapped_column(sa.String(64))
    procedure: Mapped[str] = mapped_column(sa.String(16))
    team_code: Mapped[str] = mapped_column(sa.String(64))
    co_owners: Mapped[list[str]] = mapped_column(JSONType, default=list)
    county_code: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)  # several counties: 0009
    township_code: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    village_code: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    lon: Mapped[float | None] = mapped_column(sa.Float, nullable=True)  # None: only an address was given
    lat: Mapped[float | None] = mapped_column(sa.Float, nullable=True)
    geom: Mapped[BaseGeometry | None] = mapped_column(Geom("POINT"), nullable=True)
    raw_x: Mapped[float | None] = mapped_column(sa.Float, nullable=True)
    raw_y: Mapped[float | None] = mapped_column(sa.Float, nullable=True)
    raw_crs: Mapped[str] = mapped_column(sa.String(32))
    accuracy_m: Mapped[float | None] = mapped_column(sa.Float, nullable=True)
    description: Mapped[str] = mapped_column(sa.Text, default="")
    reporter: Mapped[str] = mapped_column(sa.String(64))
    reported_at: Mapped[datetime] = mapped_column(Instant())
    triage: Mapped[str | None] = mapped_column(sa.String(32), nullable=True)
    routing: Mapped[dict[str, Any]] = mapped_column(JSONType)
    version_id: Mapped[int] = mapped_column(sa.ForeignKey("boundary_version.id"))
    linked_to: Mapped[int | None] = mapped_column(sa.ForeignKey("case_record.id"), nullable=True)
    state: Mapped[dict[str, Any]] = mapped_column(JSONType)  # cases.workflow.CaseState as JSON
    revision: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column(Instant())
    # Mirrors of the workflow state, as columns for the scheduler and the statistics.
    deadline: Mapped[datetime | None] = mapped_column(Instant(), nullable=True)
    escalation_level: Mapped[int] = mapped_column(default=0)
    closed_at: Mapped[datetime | None] = mapped_column(Instant(), nullable=True)
    on_time: Mapped[bool | None] = mapped_column(nullable=True)
    address: Mapped[str | None] = mapped_column(sa.String(500), nullable=True)
    photos: Mapped[list[str]] = mapped_column(JSONType, default=list)  # SHA-256 checksums of PhotoRow
    # The recorded outcome (first-violation lists, migration 0012): no_penalty | correction_order | warning |
    # penalty, and its list, basis, proposal and masked party.
    outcome: Mapped[str | None] = mapped_column(sa.String(16), nullable=True)
    outcome_detail: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)

    # An UPDATE only succeeds against the revision it read (optimistic concurrency; the code sets it).
    __mapper_args__ = {"version_id_col": revision, "version_id_generator": False}


class CaseEventRow(Base):
    __tablename__ = "case_event"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("case_record.id"))
    at: Mapped[datetime] = mapped_column(Instant())
    actor: Mapped[str] = mapped_column(sa.String(64))
    action: Mapped[str] = mapped_column(sa.String(32))
    from_status: Mapped[str | None] = mapped_column(sa.String(16), nullable=True)
    to_status: Mapped[str | None] = mapped_column(sa.String(16), nullable=True)
    lon: Mapped[float | None] = mapped_column(sa.Float, nullable=True)
    lat: Mapped[float | None] = mapped_column(sa.Float, nullable=True)
    reason: Mapped[str] = mapped_column(sa.Text, default="")
    detail: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    recorded_at: Mapped[datetime | None] = mapped_column(Instant(), nullable=True)  # when the server wrote it
    __table_args__ = (sa.Index("ix_case_event_recorded", "recorded_at"),)  # the wall's feed (migration 0013)


class ReportKeyRow(Base):
    """A reporter's idempotency key and the case it made: keys are unique per account, not globally."""

    __tablename__ = "report_key"
    reporter: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("case_record.id"), unique=True)


class AuditRow(Base):
    """Who changed the catalogue, when, and what (migration 0008): workbook imports, team edits and deletions."""

    __tablename__ = "audit_event"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(Instant())
    actor: Mapped[str] = mapped_column(sa.String(64))
    action: Mapped[str] = mapped_column(sa.String(32))
    target: Mapped[str] = mapped_column(sa.String(200))
    detail: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class PhotoRow(Base):
    __tablename__ = "photo"
    sha256: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    content_type: Mapped[str] = mapped_column(sa.String(32))
    size: Mapped[int] = mapped_column()
    uploaded_by: Mapped[str] = mapped_column(sa.String(64))
    uploaded_at: Mapped[datetime] = mapped_column(Instant())


class DisputeRow(Base):
    __tablename__ = "dispute"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(16))  # dispute | gap (raised by routing) | filed (by a team)
    status: Mapped[str] = mapped_column(sa.String(16))  # open | ruled | dismissed
    matter_code: Mapped[str] = mapped_column(sa.String(64))
    day: Mapped[date] = mapped_column(sa.Date)  # the date the question is about
    lon: Mapped[float | None] = mapped_column(sa.Float, nullable=True)
    lat: Mapped[float | None] = mapped_column(sa.Float, nullable=True)
    geom: Mapped[BaseGeometry] = mapped_column(Geom("GEOMETRY"))  # the point or the contested area
    version_id: Mapped[int] = mapped_column(sa.ForeignKey("boundary_version.id"))
    candidates: Mapped[list[str]] = mapped_column(JSONType)
    case_id: Mapped[int | None] = mapped_column(sa.ForeignKey("case_record.id"), unique=True, nullable=True)
    raised_by: Mapped[str] = mapped_column(sa.String(64))
    raised_at: Mapped[datetime] = mapped_column(Instant())
    reason: Mapped[str] = mapped_column(sa.Text)
    evidence: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    ruling: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    revision: Mapped[int] = mapped_column(default=0)

    __mapper_args__ = {"version_id_col": revision, "version_id_generator": False}


class AppSecretRow(Base):
    """A deployment secret drawn by a migration (0012: the salt of party hashes)."""

    __tablename__ = "app_secret"
    name: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    value: Mapped[str] = mapped_column(sa.String(128))


class CasePartyRow(Base):
    """The party (当事人) of a handled case: the ID only as a salted hash and a masked form (migration 0012)."""

    __tablename__ = "case_party"
    __table_args__ = (sa.UniqueConstraint("case_id", "party_hash", name="uq_case_party"),
                      sa.Index("ix_case_party_lookup", "party_hash", "matter_code", "at"))
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("case_record.id"))
    matter_code: Mapped[str] = mapped_column(sa.String(64))
    kind: Mapped[str] = mapped_column(sa.String(16))  # person | organisation
    id_type: Mapped[str] = mapped_column(sa.String(16))  # id_card | uscc
    party_hash: Mapped[str] = mapped_column(sa.String(64))
    masked_id: Mapped[str] = mapped_column(sa.String(32))
    name: Mapped[str] = mapped_column(sa.String(200), default="")  # a person's name is masked too (张*)
    at: Mapped[datetime] = mapped_column(Instant())  # when the case was handled: the look-back counts from it
    outcome: Mapped[str | None] = mapped_column(sa.String(16), nullable=True)
    list_class: Mapped[str | None] = mapped_column(sa.String(16), nullable=True)
    first: Mapped[bool] = mapped_column()
    recorded_by: Mapped[str] = mapped_column(sa.String(64))


class ActionKeyRow(Base):
    """An actor's idempotency key for steps on a case: a replayed outbox item gets the first answer (0012)."""

    __tablename__ = "action_key"
    actor: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("case_record.id"))
    revision: Mapped[int] = mapped_column()  # the case's revision after the steps
    steps: Mapped[int] = mapped_column()
    body_hash: Mapped[str] = mapped_column(sa.String(64))
