"""Tokens say what they may do: everything their stakeholder may (``all``), or only read deploy gates (``gate``).

Revision ID: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("tokens", sa.Column("use", sa.String(10), nullable=False, server_default="all"))


def downgrade() -> None:
    with op.batch_alter_table("tokens") as batch:
        batch.drop_column("use")
