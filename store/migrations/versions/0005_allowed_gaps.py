"""Allowed-gap areas per boundary version (lakes, rivers, reservoirs a layer need not cover).

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

from store.schema import geometry_column_type

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.create_table(
        "allowed_gap",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("version_id", sa.Integer, sa.ForeignKey("boundary_version.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("geom", geometry_column_type(dialect, "MULTIPOLYGON"), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.UniqueConstraint("version_id", "code", name="uq_allowed_gap_version_code"),
    )
    if dialect == "postgresql":
        op.create_index("ix_allowed_gap_geom", "allowed_gap", ["geom"], postgresql_using="gist")


def downgrade() -> None:
    op.drop_table("allowed_gap")
