"""The audit log's heads: each plan's chain length and last hash, so truncation is found. Heads of
logs written before are made here without their keyed mark; the server keys them at start.

Revision ID: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_heads",
        sa.Column("plan_id", sa.String(64), primary_key=True),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("mac", sa.String(64), nullable=True),
    )
    op.execute(
        "INSERT INTO audit_heads (plan_id, count, hash, mac) "
        "SELECT a.plan_id, a.seq + 1, a.hash, NULL FROM audit a "
        "WHERE a.seq = (SELECT MAX(b.seq) FROM audit b WHERE b.plan_id = a.plan_id)"
    )


def downgrade() -> None:
    op.drop_table("audit_heads")
