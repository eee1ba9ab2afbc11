"""Users, API tokens, cases and their append-only event log.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from store.schema import geometry_column_type

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

APPEND_ONLY_SQLITE = """
CREATE TRIGGER case_event_no_{op} BEFORE {OP} ON case_event
BEGIN SELECT RAISE(ABORT, 'case_event is append-only: events are never changed or removed'); END
"""
APPEND_ONLY_PG = """
CREATE FUNCTION case_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'case_event is append-only: events are never changed or removed'; END $$;
CREATE TRIGGER case_event_append_only BEFORE UPDATE OR DELETE ON case_event
FOR EACH ROW EXECUTE FUNCTION case_event_append_only();
"""


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    json = sa.JSON().with_variant(JSONB(), "postgresql")
    op.create_table(
        "app_user",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("team_code", sa.String(64)),
        sa.Column("password_hash", sa.String(300), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.CheckConstraint("role IN ('grid_worker','team_member','dispatcher','planner','auditor')",
                           name="ck_user_role"),
    )
    op.create_table(
        "api_token",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("app_user.id", ondelete="CASCADE"), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("expires_at", sa.DateTime),
        sa.Column("revoked_at", sa.DateTime),
    )
    op.create_table(
        "case_record",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("idempotency_key", sa.String(100), unique=True),
        sa.Column("body_hash", sa.String(64)),
        sa.Column("external_id", sa.String(100), unique=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("matter_code", sa.String(64), nullable=False),
        sa.Column("procedure", sa.String(16), nullable=False),
        sa.Column("team_code", sa.String(64), nullable=False),
        sa.Column("co_owners", json, nullable=False),
        sa.Column("township_code", sa.String(64)),
        sa.Column("village_code", sa.String(64)),
        sa.Column("lon", sa.Float, nullable=False),
        sa.Column("lat", sa.Float, nullable=False),
        sa.Column("geom", geometry_column_type(dialect, "POINT"), nullable=False),
        sa.Column("raw_x", sa.Float, nullable=False),
        sa.Column("raw_y", sa.Float, nullable=False),
        sa.Column("raw_crs", sa.String(32), nullable=False),
        sa.Column("accuracy_m", sa.Float),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("reporter", sa.String(64), nullable=False),
        sa.Column("reported_at", sa.DateTime, nullable=False),
        sa.Column("triage", sa.String(32)),
        sa.Column("routing", json, nullable=False),
        sa.Column("version_id", sa.Integer, sa.ForeignKey("boundary_version.id"), nullable=False),
        sa.Column("linked_to", sa.Integer, sa.ForeignKey("case_record.id")),
        sa.Column("state", json, nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_case_team_status", "case_record", ["team_code", "status"])
    op.create_index("ix_case_matter_reported", "case_record", ["matter_code", "reported_at"])
    op.create_table(
        "case_event",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("case_record.id"), nullable=False),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("from_status", sa.String(16)),
        sa.Column("to_status", sa.String(16)),
        sa.Column("lon", sa.Float),
        sa.Column("lat", sa.Float),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("detail", json, nullable=False),
    )
    op.create_index("ix_case_event_case", "case_event", ["case_id", "id"])
    if dialect == "postgresql":
        op.create_index("ix_case_geom", "case_record", ["geom"], postgresql_using="gist")
        op.execute(APPEND_ONLY_PG)
    else:
        for name in ("update", "delete"):
            op.execute(APPEND_ONLY_SQLITE.format(op=name, OP=name.upper()))


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS case_event_append_only ON case_event")
        op.execute("DROP FUNCTION IF EXISTS case_event_append_only()")
    for table in ("case_event", "case_record", "api_token", "app_user"):
        op.drop_table(table)
