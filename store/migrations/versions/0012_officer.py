"""The enforcement officer's page (issue 18.2): first-violation outcomes and parties, replay-safe case actions.

- `case_party`: the party (当事人) recorded when a case is handled — ID number or 统一社会信用代码 kept only as a
  salted hash (to find the same party's earlier cases) and a masked form (to show); never the number itself.
- `case_record.outcome` / `outcome_detail`: the recorded outcome (不予处罚, 责令改正, 警告, 处罚), its list and basis.
- `action_key`: an actor's idempotency key for a step on a case, so a phone's outbox replays it exactly once.
- `app_secret`: the deployment's salt for party hashes, drawn once here (the same party hashes the same in
  every case of this database).

Revision ID: 0012
Revises: 0011
"""

import secrets

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    json_type = sa.JSON().with_variant(JSONB(), "postgresql")
    timestamp = sa.DateTime(timezone=op.get_bind().dialect.name == "postgresql")
    secret = op.create_table(
        "app_secret",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("value", sa.String(128), nullable=False),
    )
    op.bulk_insert(secret, [{"name": "party_salt", "value": secrets.token_hex(32)}])
    # Plain ADD/DROP COLUMN (SQLite ≥ 3.35), as 0009: a batch rebuild of case_record would break case_event's
    # and case_party's references to it on SQLite.
    op.add_column("case_record", sa.Column("outcome", sa.String(16), nullable=True))
    op.add_column("case_record", sa.Column("outcome_detail", json_type, nullable=True))
    op.create_table(
        "case_party",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("case_record.id"), nullable=False),
        sa.Column("matter_code", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("id_type", sa.String(16), nullable=False),
        sa.Column("party_hash", sa.String(64), nullable=False),
        sa.Column("masked_id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(200), nullable=False, server_default=""),
        sa.Column("at", timestamp, nullable=False),
        sa.Column("outcome", sa.String(16), nullable=True),
        sa.Column("list_class", sa.String(16), nullable=True),
        sa.Column("first", sa.Boolean, nullable=False),
        sa.Column("recorded_by", sa.String(64), nullable=False),
        sa.UniqueConstraint("case_id", "party_hash", name="uq_case_party"),
    )
    op.create_index("ix_case_party_lookup", "case_party", ["party_hash", "matter_code", "at"])
    op.create_table(
        "action_key",
        sa.Column("actor", sa.String(64), primary_key=True),
        sa.Column("idempotency_key", sa.String(100), primary_key=True),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("case_record.id"), nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("steps", sa.Integer, nullable=False),
        sa.Column("body_hash", sa.String(64), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("action_key")
    op.drop_index("ix_case_party_lookup", table_name="case_party")
    op.drop_table("case_party")
    op.drop_column("case_record", "outcome_detail")
    op.drop_column("case_record", "outcome")
    op.drop_table("app_secret")
