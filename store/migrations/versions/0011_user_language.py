"""A user's language preference (issue 13): pages and answers in it unless a request asks otherwise.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("app_user", sa.Column("language", sa.String(8), nullable=True))


def downgrade() -> None:
    op.drop_column("app_user", "language")
