"""Model fits: the hyperparameters of each proposal round, stored with its trials.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04

One table, `model_fit` (campaign, iteration, state as JSON): the next fit starts
from the last round's hyperparameters, also after `loop resume`, and
`loop report` reuses them. Existing campaigns have none until their next model
round. Frozen: never edit this file.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

#: The loop_meta schema_version this revision leaves behind.
SCHEMA = 4


def upgrade() -> None:
    op.create_table(
        "model_fit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("iteration", sa.Integer(), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaign.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("campaign_id", "iteration", name="uq_model_fit_iteration"),
    )
    op.create_index(
        op.f("ix_model_fit_campaign_id"), "model_fit", ["campaign_id"], unique=False
    )
    _set_schema(SCHEMA)


def downgrade() -> None:
    op.drop_index(op.f("ix_model_fit_campaign_id"), table_name="model_fit")
    op.drop_table("model_fit")
    _set_schema(SCHEMA - 1)


def _set_schema(version: int) -> None:
    meta = sa.table(
        "loop_meta", sa.column("key", sa.String()), sa.column("value", sa.String())
    )
    op.execute(
        meta.update().where(meta.c.key == "schema_version").values(value=str(version))
    )
