"""The driver lease: who drives each campaign, since when, until when, at which epoch.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22

Four columns on `campaign` (loop/storage/driver.py). `driver_epoch` gets a
server default of 0 so existing rows (and an older loop still inserting
campaigns) get a value. Frozen: never edit this file.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

#: The loop_meta schema_version this revision leaves behind.
SCHEMA = 2

COLUMNS = ("driver_owner", "driver_since", "driver_expires_at", "driver_epoch")


def upgrade() -> None:
    # adding columns needs no table copy, even on SQLite
    with op.batch_alter_table("campaign") as batch:
        batch.add_column(
            sa.Column("driver_owner", sa.String(length=128), nullable=True)
        )
        batch.add_column(
            sa.Column("driver_since", sa.DateTime(timezone=True), nullable=True)
        )
        batch.add_column(
            sa.Column("driver_expires_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch.add_column(
            sa.Column("driver_epoch", sa.Integer(), nullable=False, server_default="0")
        )
    _set_schema(SCHEMA)


def downgrade() -> None:
    # ALTER TABLE ... DROP COLUMN (SQLite >= 3.35): copying `campaign` would trip
    # the foreign keys of the trials that point at it
    with op.batch_alter_table("campaign", recreate="never") as batch:
        for name in reversed(COLUMNS):
            batch.drop_column(name)
    _set_schema(SCHEMA - 1)


def _set_schema(version: int) -> None:
    meta = sa.table(
        "loop_meta", sa.column("key", sa.String()), sa.column("value", sa.String())
    )
    op.execute(
        meta.update().where(meta.c.key == "schema_version").values(value=str(version))
    )
