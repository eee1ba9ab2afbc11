"""One clock (issue 13.3): every stored timestamp becomes an absolute instant.

Before this, timestamps were naive server-local times. They are read as wall-clock times in the county's zone
— `GRIDGOV_TIMEZONE` (default Asia/Shanghai) *at the time the migration runs*: set it to the zone the old
server wrote in before `gridgov db upgrade` if that was not the county's — and become:

- PostgreSQL: `timestamptz` (`ALTER … TYPE timestamptz USING col AT TIME ZONE '<zone>'`);
- SQLite: the same column type, holding UTC (`store.schema.Instant` reads it back in the county's zone).

Times kept inside JSON get the zone's offset written out (2026-10-08T17:00:00+08:00): the case workflow state
(`case_record.state`), event details (`deadline`, `deadline_was`), dispute evidence and rulings (`at`).
The append-only triggers of case_event and sign_in_event are lifted for the rewrite and put back.
Downgrade turns the instants back into naive wall-clock times of the same zone.

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from cases import clock

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

COLUMNS: dict[str, tuple[str, ...]] = {
    "boundary_version": ("created_at", "published_at"),
    "incident": ("reported_at",),
    "app_user": ("created_at",),
    "api_token": ("created_at", "expires_at", "revoked_at"),
    "sign_in_guard": ("window_start", "locked_until"),
    "sign_in_event": ("at",),
    "case_record": ("reported_at", "updated_at", "deadline", "closed_at"),
    "case_event": ("at", "recorded_at"),
    "audit_event": ("at",),
    "photo": ("uploaded_at",),
    "dispute": ("raised_at",),
}
STATE_KEYS = ("reported_at", "registered_at", "deadline", "level2_at", "suspended_at", "fed_back_at", "closed_at",
              "updated_at")
DETAIL_KEYS = ("deadline", "deadline_was")
APPEND_ONLY = ("case_event", "sign_in_event")
SQLITE_TRIGGER = """
CREATE TRIGGER {table}_no_{op} BEFORE {OP} ON {table}
BEGIN SELECT RAISE(ABORT, '{table} is append-only: events are never changed or removed'); END
"""
SQLITE_FORMAT = "%Y-%m-%d %H:%M:%S.%f"  # how SQLAlchemy's DateTime writes SQLite values


def _zone_name() -> str:
    name = clock.zone_name()
    clock.load_zone(name)  # an IANA name: letters, digits, / _ + - only, safe inside a quoted literal
    return name


def _aware_text(value: Any) -> Any:
    """A naive ISO time in JSON as the same wall-clock time with the zone's offset."""
    if not isinstance(value, str):
        return value
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        return value
    return clock.to_local(dt).isoformat() if dt.tzinfo is None else value


def _naive_text(value: Any) -> Any:
    """The reverse: an ISO time with an offset as the zone's naive wall-clock time."""
    if not isinstance(value, str):
        return value
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        return value
    return clock.wall(dt).isoformat() if dt.tzinfo is not None else value


def _convert_json(convert: Callable[[Any], Any]) -> None:
    json_type = sa.JSON().with_variant(JSONB(), "postgresql")
    bind = op.get_bind()

    def rewrite(table: str, column: str, change: Callable[[Any], Any]) -> None:
        t = sa.table(table, sa.column("id", sa.Integer), sa.column(column, json_type))
        updates = []
        for row_id, value in bind.execute(sa.select(t.c.id, t.c[column])):
            new = change(value)
            if new != value:
                updates.append({"rid": row_id, "value": new})
        if updates:
            bind.execute(t.update().where(t.c.id == sa.bindparam("rid")).values({column: sa.bindparam("value")}),
                         updates)

    def state(value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        return {k: convert(v) if k in STATE_KEYS else v for k, v in value.items()}

    def detail(value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        return {k: convert(v) if k in DETAIL_KEYS else v for k, v in value.items()}

    def evidence(value: Any) -> Any:
        if not isinstance(value, list):
            return value
        return [{k: convert(v) if k == "at" else v for k, v in e.items()} if isinstance(e, dict) else e
                for e in value]

    def ruling(value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        return {k: convert(v) if k == "at" else v for k, v in value.items()}

    rewrite("case_record", "state", state)
    rewrite("case_event", "detail", detail)
    rewrite("dispute", "evidence", evidence)
    rewrite("dispute", "ruling", ruling)


def _sqlite_columns(convert: Callable[[datetime], datetime]) -> None:
    bind = op.get_bind()
    for table, columns in COLUMNS.items():
        for column in columns:
            rows = bind.execute(sa.text(f"SELECT rowid, {column} FROM {table} WHERE {column} IS NOT NULL")).all()
            updates = []
            for rid, value in rows:
                dt = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
                updates.append({"rid": rid, "value": convert(dt).strftime(SQLITE_FORMAT)})
            if updates:
                bind.execute(sa.text(f"UPDATE {table} SET {column} = :value WHERE rowid = :rid"), updates)


def _lift_triggers(dialect: str) -> None:
    for table in APPEND_ONLY:
        if dialect == "postgresql":
            op.execute(f"ALTER TABLE {table} DISABLE TRIGGER {table}_append_only")
        else:
            for name in ("update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{name}")


def _restore_triggers(dialect: str) -> None:
    for table in APPEND_ONLY:
        if dialect == "postgresql":
            op.execute(f"ALTER TABLE {table} ENABLE TRIGGER {table}_append_only")
        else:
            for name in ("update", "delete"):
                op.execute(SQLITE_TRIGGER.format(table=table, op=name, OP=name.upper()))


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    zone = _zone_name()
    _lift_triggers(dialect)
    if dialect == "postgresql":
        for table, columns in COLUMNS.items():
            for column in columns:
                op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} TYPE timestamptz "
                           f"USING {column} AT TIME ZONE '{zone}'")
    else:
        _sqlite_columns(lambda dt: clock.to_utc(dt).replace(tzinfo=None))  # naive: read in the county's zone
    _convert_json(_aware_text)
    _restore_triggers(dialect)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    zone = _zone_name()
    _lift_triggers(dialect)
    if dialect == "postgresql":
        for table, columns in COLUMNS.items():
            for column in columns:
                op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} TYPE timestamp "
                           f"USING {column} AT TIME ZONE '{zone}'")
    else:
        _sqlite_columns(lambda dt: clock.wall(dt.replace(tzinfo=UTC)))
    _convert_json(_naive_text)
    _restore_triggers(dialect)
