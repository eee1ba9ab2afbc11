"""Cases whose dispute was settled before the `settled` triage kind existed leave the dispute queue.

Ruling or dismissing a case's dispute record now moves the case from the `dispute` (or `gap`) queue to `settled`:
the owner is decided and the case waits only to be registered and dispatched (store/cases.py `dispute_settled`).
A database that settled disputes before that kept those cases under `dispute`, so the console still listed them as
waiting for a ruling that was already made. This data migration gives them the kind the code now gives. Not a
workflow step: revisions and the event log are left as they are. The downgrade keeps the rows: code before this
revision already knows `settled`, and which rows were moved here cannot be told from the ones settled since.

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(sa.text(
        "UPDATE case_record SET triage = 'settled' WHERE triage IN ('dispute', 'gap') AND id IN "
        "(SELECT case_id FROM dispute WHERE case_id IS NOT NULL AND status IN ('ruled', 'dismissed'))"))


def downgrade() -> None:
    pass
