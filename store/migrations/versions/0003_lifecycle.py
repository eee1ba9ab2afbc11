"""The case lifecycle: queryable deadline/closure columns, cases without a location, photos, recorded_at.

- case_record gains deadline, escalation_level, closed_at, on_time (mirrors of the workflow state, kept
  as columns so the escalation scheduler and the statistics can query them), address (an Open311
  address_string) and photos (checksums). Location columns become nullable: an Open311 client may send
  only an address, and such a case waits in triage until a dispatcher locates it.
- case_event gains recorded_at: when the server wrote the event (`at` is when it happened, which a phone
  that was offline may report later).
- photo: uploaded images, stored on disk under their SHA-256; the table keeps type, size and uploader.

Cases stored by 0002 held only the time limit in `state`; they are rewritten to the full workflow state
of a reported case.

Revision ID: 0003
Revises: 0002
"""

import json

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

NULLABLE = ("lon", "lat", "geom", "raw_x", "raw_y")


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        # SQLite rebuilds case_record to relax NOT NULL, and case_event rows point at it until the rename.
        # Outside a transaction foreign_keys=OFF takes effect; inside one, defer_foreign_keys does.
        op.execute("PRAGMA foreign_keys = OFF")
        op.execute("PRAGMA defer_foreign_keys = ON")
    json_type = sa.JSON().with_variant(JSONB(), "postgresql")
    with op.batch_alter_table("case_record") as batch:
        batch.add_column(sa.Column("deadline", sa.DateTime))
        batch.add_column(sa.Column("escalation_level", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("closed_at", sa.DateTime))
        batch.add_column(sa.Column("on_time", sa.Boolean))
        batch.add_column(sa.Column("address", sa.String(500)))
        batch.add_column(sa.Column("photos", json_type, nullable=False, server_default="[]"))
        for column in NULLABLE:
            batch.alter_column(column, nullable=True)
    if sqlite:
        op.execute("PRAGMA foreign_keys = ON")
    op.create_index("ix_case_status_deadline", "case_record", ["status", "deadline"])
    op.create_index("ix_case_reported", "case_record", ["reported_at"])
    with op.batch_alter_table("case_event") as batch:
        batch.add_column(sa.Column("recorded_at", sa.DateTime))
    op.create_table(
        "photo",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("content_type", sa.String(32), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("uploaded_by", sa.String(64), nullable=False),
        sa.Column("uploaded_at", sa.DateTime, nullable=False),
    )
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT id, matter_code, procedure, reported_at, updated_at, state FROM case_record"))
    for case_id, matter, procedure, reported_at, updated_at, state in rows.fetchall():
        old = state if isinstance(state, dict) else json.loads(state)
        if "status" in old:
            continue
        new = {"status": "reported", "matter_code": matter, "procedure": procedure,
               "time_limit": old.get("time_limit", 5), "time_unit": old.get("time_unit", "working_days"),
               "reported_at": _iso(reported_at), "updated_at": _iso(updated_at), "revision": 0}
        bind.execute(sa.text("UPDATE case_record SET state = :s, revision = 0 WHERE id = :i"),
                     {"s": json.dumps(new), "i": case_id})


def _iso(value: object) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite ≥ 3.35 has it): a batch rebuild of case_event would lose its triggers.
    # Location columns stay nullable: cases known only by an address must not be lost.
    op.drop_table("photo")
    op.drop_column("case_event", "recorded_at")
    op.drop_index("ix_case_reported", "case_record")
    op.drop_index("ix_case_status_deadline", "case_record")
    for column in ("photos", "address", "on_time", "closed_at", "escalation_level", "deadline"):
        op.drop_column("case_record", column)
