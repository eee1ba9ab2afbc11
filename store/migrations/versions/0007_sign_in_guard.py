"""Sign-in protection (issue 15.6): failure counters and lockouts in the database, and an append-only log.

- sign_in_guard: one row per account name (scope 'account') and per client address (scope 'address'):
  failures in the current window and, for accounts, `locked_until`. Kept in the database so every server
  worker (`gridgov serve --workers N`) counts the same attempts. Names that match no account get rows too,
  so an unknown name is throttled exactly like a known one (the answers do not tell which names exist).
- sign_in_event: who tried to sign in, from where, when, and what happened (success, failure, refused,
  locked, unlocked with the person who unlocked). Append-only like case_event: triggers refuse UPDATE and
  DELETE on both backends.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

APPEND_ONLY_SQLITE = """
CREATE TRIGGER sign_in_event_no_{op} BEFORE {OP} ON sign_in_event
BEGIN SELECT RAISE(ABORT, 'sign_in_event is append-only: events are never changed or removed'); END
"""
APPEND_ONLY_PG = """
CREATE FUNCTION sign_in_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'sign_in_event is append-only: events are never changed or removed'; END $$;
CREATE TRIGGER sign_in_event_append_only BEFORE UPDATE OR DELETE ON sign_in_event
FOR EACH ROW EXECUTE FUNCTION sign_in_event_append_only();
"""


def upgrade() -> None:
    op.create_table(
        "sign_in_guard",
        sa.Column("scope", sa.String(8), primary_key=True),
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("failures", sa.Integer, nullable=False, server_default="0"),
        sa.Column("window_start", sa.DateTime, nullable=False),
        sa.Column("locked_until", sa.DateTime),
        sa.CheckConstraint("scope IN ('account','address')", name="ck_sign_in_guard_scope"),
    )
    op.create_index("ix_sign_in_guard_window", "sign_in_guard", ["window_start"])
    op.create_table(
        "sign_in_event",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("client", sa.String(64)),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("detail", sa.Text, nullable=False, server_default=""),
    )
    op.create_index("ix_sign_in_event_user", "sign_in_event", ["username", "at"])
    op.create_index("ix_sign_in_event_client", "sign_in_event", ["client", "at"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(APPEND_ONLY_PG)
    else:
        for name in ("update", "delete"):
            op.execute(APPEND_ONLY_SQLITE.format(op=name, OP=name.upper()))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS sign_in_event_append_only ON sign_in_event")
        op.execute("DROP FUNCTION IF EXISTS sign_in_event_append_only()")
    op.drop_table("sign_in_event")
    op.drop_table("sign_in_guard")
