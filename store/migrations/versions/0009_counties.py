"""Several counties in one deployment (issue 16.4): each case knows its county; an account may be limited to one.

`case_record.county_code` is filled from the county its routing selected (existing cases: the parent of
their township in their version). `app_user.county_code` limits a dispatcher or auditor to one county's cases
(NULL: every county, as before).

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("case_record", sa.Column("county_code", sa.String(64), nullable=True))
    op.add_column("app_user", sa.Column("county_code", sa.String(64), nullable=True))
    op.execute("UPDATE case_record SET county_code = (SELECT u.parent_code FROM unit u WHERE u.version_id = "
               "case_record.version_id AND u.code = case_record.township_code AND u.layer = 'township') "
               "WHERE township_code IS NOT NULL")
    op.create_index("ix_case_record_county", "case_record", ["county_code"])


def downgrade() -> None:
    op.drop_index("ix_case_record_county", "case_record")
    # Plain DROP COLUMN (SQLite ≥ 3.35): a batch rebuild of case_record would touch case_event's references.
    op.drop_column("case_record", "county_code")
    op.drop_column("app_user", "county_code")
