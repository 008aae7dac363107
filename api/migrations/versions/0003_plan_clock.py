"""Plans get a clock: live (the server's) or scenario (a rehearsal). Plans made before are rehearsals.

Revision ID: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Before this change every plan replayed its scenario's clock: they stay rehearsals, and their
    # stored versions say so as new ones do.
    op.add_column("plans", sa.Column("clock", sa.String(10), nullable=False, server_default="scenario"))
    versions = sa.table(
        "versions", sa.column("plan_id", sa.String), sa.column("number", sa.Integer), sa.column("body", sa.JSON)
    )
    connection = op.get_bind()
    for plan_id, number, body in connection.execute(sa.select(versions.c.plan_id, versions.c.number, versions.c.body)):
        connection.execute(
            versions.update()
            .where(versions.c.plan_id == plan_id, versions.c.number == number)
            .values(body={"clock": "scenario", **body})
        )


def downgrade() -> None:
    with op.batch_alter_table("plans") as batch:
        batch.drop_column("clock")
