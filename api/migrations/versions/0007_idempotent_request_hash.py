"""An Idempotency-Key's request: replies remember what was asked, so a key reused for another
request is refused. Replies stored before have none and replay as before.

Revision ID: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("idempotent_replies", sa.Column("request_hash", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("idempotent_replies") as batch:
        batch.drop_column("request_hash")
