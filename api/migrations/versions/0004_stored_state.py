"""Versions keep the problem they solved, and the newest one the negotiation's state: reads and the
next solve start from what is stored. Versions stored before have neither and are rebuilt once.

Revision ID: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("versions", sa.Column("problem", sa.JSON(), nullable=True))
    op.add_column("versions", sa.Column("state", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("versions") as batch:
        batch.drop_column("state")
        batch.drop_column("problem")
