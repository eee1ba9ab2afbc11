"""Idempotency keys belong to the account that sent them (issue 15.3).

A key used to be unique across all reporters: a second worker sending the first worker's key got the first
worker's case and their own report was never stored. Keys now live in `report_key`, unique per
(reporter, key); existing cases' keys are copied there and cleared from `case_record` (whose column was
globally unique and is no longer written).

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "report_key",
        sa.Column("reporter", sa.String(64), primary_key=True),
        sa.Column("idempotency_key", sa.String(100), primary_key=True),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("case_record.id"), nullable=False, unique=True),
    )
    op.execute("INSERT INTO report_key (reporter, idempotency_key, case_id) "
               "SELECT reporter, idempotency_key, id FROM case_record WHERE idempotency_key IS NOT NULL")
    op.execute("UPDATE case_record SET idempotency_key = NULL WHERE idempotency_key IS NOT NULL")


def downgrade() -> None:
    # Two accounts may now hold one key: the old global column can take back only the earliest of each.
    op.execute("UPDATE case_record SET idempotency_key = (SELECT k.idempotency_key FROM report_key k "
               "WHERE k.case_id = case_record.id) WHERE id IN (SELECT MIN(case_id) FROM report_key "
               "GROUP BY idempotency_key)")
    op.drop_table("report_key")
