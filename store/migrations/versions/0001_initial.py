"""Initial schema: boundary versions, units, teams, matters, delegations, rules, incidents.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from store.schema import geometry_column_type

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    json = sa.JSON().with_variant(JSONB(), "postgresql")

    def geom(kind: str, srid: int = 4326) -> sa.types.TypeEngine:  # type: ignore[type-arg]
        return geometry_column_type(dialect, kind, srid)

    op.create_table(
        "boundary_version",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("effective_from", sa.Date),
        sa.Column("effective_to", sa.Date),
        sa.Column("based_on_id", sa.Integer, sa.ForeignKey("boundary_version.id")),
        sa.Column("revision", sa.Integer, nullable=False, server_default="0"),
        sa.Column("note", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("published_at", sa.DateTime),
        sa.CheckConstraint("status IN ('draft','validated','published')", name="ck_version_status"),
    )
    op.create_table(
        "unit",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("version_id", sa.Integer, sa.ForeignKey("boundary_version.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("layer", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("parent_code", sa.String(64)),
        sa.Column("attributes", json, nullable=False),
        sa.Column("geom", geom("MULTIPOLYGON")),
        sa.Column("cells", json),
        sa.Column("derived", sa.Boolean, nullable=False),
        sa.Column("raw_geom", geom("GEOMETRY", 0)),
        sa.Column("raw_crs", sa.String(32)),
        sa.UniqueConstraint("version_id", "code"),
        sa.CheckConstraint("layer IN ('county','township','village','grid','zone')", name="ck_unit_layer"),
    )
    op.create_index("ix_unit_version_layer", "unit", ["version_id", "layer"])
    op.create_table(
        "team",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("code", sa.String(64), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("parent_code", sa.String(64)),
        sa.Column("unit_code", sa.String(64)),
        sa.Column("attributes", json, nullable=False),
    )
    op.create_table(
        "matter",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("code", sa.String(64), nullable=False, unique=True),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("domain", sa.String(100), nullable=False),
        sa.Column("procedure", sa.String(16), nullable=False),
        sa.Column("time_limit", sa.Integer, nullable=False),
        sa.Column("time_unit", sa.String(16), nullable=False),
        sa.Column("attributes", json, nullable=False),
    )
    op.create_table(
        "delegation",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("version_id", sa.Integer, sa.ForeignKey("boundary_version.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("township_code", sa.String(64), nullable=False),
        sa.Column("matter_code", sa.String(64), nullable=False),
        sa.UniqueConstraint("version_id", "township_code", "matter_code"),
    )
    op.create_table(
        "rule",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("version_id", sa.Integer, sa.ForeignKey("boundary_version.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("scope", json, nullable=False),
        sa.Column("matters", json, nullable=False),
        sa.Column("team_code", sa.String(64), nullable=False),
        sa.Column("co_owner_codes", json, nullable=False),
        sa.Column("effective_from", sa.Date),
        sa.Column("effective_to", sa.Date),
        sa.Column("legal_basis", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.UniqueConstraint("version_id", "code"),
    )
    op.create_table(
        "incident",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("external_id", sa.String(100), unique=True),
        sa.Column("reported_at", sa.DateTime, nullable=False),
        sa.Column("matter_code", sa.String(64), nullable=False),
        sa.Column("lon", sa.Float, nullable=False),
        sa.Column("lat", sa.Float, nullable=False),
        sa.Column("geom", geom("POINT"), nullable=False),
        sa.Column("raw_x", sa.Float),
        sa.Column("raw_y", sa.Float),
        sa.Column("raw_crs", sa.String(32), nullable=False),
        sa.Column("accuracy_m", sa.Float),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("reporter", sa.String(64)),
        sa.Column("attributes", json, nullable=False),
    )
    op.create_index("ix_incident_reported_at", "incident", ["reported_at"])
    if dialect == "postgresql":
        # GiST indexes so QGIS, psql and spatial joins use the index.
        op.create_index("ix_unit_geom", "unit", ["geom"], postgresql_using="gist")
        op.create_index("ix_incident_geom", "incident", ["geom"], postgresql_using="gist")


def downgrade() -> None:
    for table in ("incident", "rule", "delegation", "matter", "team", "unit", "boundary_version"):
        op.drop_table(table)
