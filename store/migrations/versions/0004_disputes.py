"""Dispute records: raised automatically for disputed and gap reports or filed by a team; evidence; a ruling.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from store.schema import geometry_column_type

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    json = sa.JSON().with_variant(JSONB(), "postgresql")
    op.create_table(
        "dispute",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("matter_code", sa.String(64), nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("lon", sa.Float),
        sa.Column("lat", sa.Float),
        sa.Column("geom", geometry_column_type(dialect, "GEOMETRY"), nullable=False),
        sa.Column("version_id", sa.Integer, sa.ForeignKey("boundary_version.id"), nullable=False),
        sa.Column("candidates", json, nullable=False),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("case_record.id"), unique=True),
        sa.Column("raised_by", sa.String(64), nullable=False),
        sa.Column("raised_at", sa.DateTime, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("evidence", json, nullable=False),
        sa.Column("ruling", json),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.CheckConstraint("kind IN ('dispute','gap','filed')", name="ck_dispute_kind"),
        sa.CheckConstraint("status IN ('open','ruled','dismissed')", name="ck_dispute_status"),
    )
    op.create_index("ix_dispute_status", "dispute", ["status", "id"])


def downgrade() -> None:
    op.drop_table("dispute")
