"""A covering index for the big screen's figures (store/screen.py `_counts`).

The big screen counts over every open case and every case of the month in one statement. Case rows are wide
(routing explanation, state, photos: ~3 KB of JSON each), and reading them was most of the cost of
GET /screen/summary (~120 ms of ~135 at 10^4 open cases on SQLite). This index holds every column the figures read
— status, the four instants, matter, township, reporter, on-time flag, escalation level — and the two columns of the
reader's scope (county, team), so both databases can answer from the index alone without the rows' JSON.

Revision ID: 0015
Revises: 0014
"""

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

COLUMNS = ["status", "reported_at", "closed_at", "deadline", "matter_code", "township_code", "reporter", "on_time",
           "escalation_level", "county_code", "team_code"]


def upgrade() -> None:
    op.create_index("ix_case_figures", "case_record", COLUMNS)


def downgrade() -> None:
    op.drop_index("ix_case_figures", "case_record")
