"""Alertmanager silences over announced windows, and a plan's own Alertmanager.

Revision ID: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("plans", sa.Column("alertmanager_url", sa.String(2000), nullable=True))
    op.create_table(
        "silences",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("plan_id", sa.String(64), sa.ForeignKey("plans.id"), nullable=False, index=True),
        sa.Column("request", sa.String(220), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("matchers", sa.JSON(), nullable=False),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("state", sa.String(20), nullable=False, index=True),
        sa.Column("silence_id", sa.String(100), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.UniqueConstraint("plan_id", "request", "starts_at", "ends_at"),
    )


def downgrade() -> None:
    op.drop_table("silences")
    with op.batch_alter_table("plans") as batch:
        batch.drop_column("alertmanager_url")
