"""rollout targets link their apply job

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 12:55:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("rollout_targets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("job_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            "fk_rollout_targets_job_id_provisioning_jobs", "provisioning_jobs", ["job_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("rollout_targets", schema=None) as batch_op:
        batch_op.drop_constraint("fk_rollout_targets_job_id_provisioning_jobs", type_="foreignkey")
        batch_op.drop_column("job_id")
