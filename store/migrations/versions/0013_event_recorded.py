"""The wall's feed finds steps by when the server recorded them: an index on case_event.recorded_at.

A step sent from a phone that was offline carries the time it was done (`at`, which also becomes the case's
`updated_at`), possibly minutes before it reached the server; a feed polling "changed since the cursor" by
`updated_at` alone never saw it. `GET /wall/cases?since=` now also takes cases with an event recorded since.

Revision ID: 0013
Revises: 0012
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_case_event_recorded", "case_event", ["recorded_at"])


def downgrade() -> None:
    op.drop_index("ix_case_event_recorded", table_name="case_event")
