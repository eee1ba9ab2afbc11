"""Catalogue workbook (issue 16.1): the delegation list's record of each delegation (batch, date, situation,
note), and an audit log of planner writes to the catalogue (who imported a workbook, changed or deleted a team).

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("delegation") as batch:
        batch.add_column(sa.Column("batch", sa.String(100), nullable=False, server_default=""))
        batch.add_column(sa.Column("effective_from", sa.Date, nullable=True))
        batch.add_column(sa.Column("situation", sa.String(16), nullable=True))
        batch.add_column(sa.Column("note", sa.Text, nullable=False, server_default=""))
    json_type = sa.JSON().with_variant(JSONB(), "postgresql")
    op.create_table(
        "audit_event",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("target", sa.String(200), nullable=False),
        sa.Column("detail", json_type, nullable=False),
    )
    op.create_index("ix_audit_event_at", "audit_event", ["at"])


def downgrade() -> None:
    op.drop_table("audit_event")
    with op.batch_alter_table("delegation") as batch:
        for column in ("note", "situation", "effective_from", "batch"):
            batch.drop_column(column)
