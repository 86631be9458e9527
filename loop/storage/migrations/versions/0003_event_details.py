"""Event details: what an adapter reported with a status change, kept on its event.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21

One nullable JSON column on `trial_event` (`Store.transition(..., details=...)`):
a failed job's name, id and scheduler states, or a traceback. Existing events
keep null. Frozen: never edit this file.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

#: The loop_meta schema_version this revision leaves behind.
SCHEMA = 3


def upgrade() -> None:
    # adding a column needs no table copy, even on SQLite
    with op.batch_alter_table("trial_event") as batch:
        batch.add_column(sa.Column("details", sa.JSON(), nullable=True))
    _set_schema(SCHEMA)


def downgrade() -> None:
    # ALTER TABLE ... DROP COLUMN (SQLite >= 3.35), as 0002 does: no table copy
    with op.batch_alter_table("trial_event", recreate="never") as batch:
        batch.drop_column("details")
    _set_schema(SCHEMA - 1)


def _set_schema(version: int) -> None:
    meta = sa.table(
        "loop_meta", sa.column("key", sa.String()), sa.column("value", sa.String())
    )
    op.execute(
        meta.update().where(meta.c.key == "schema_version").values(value=str(version))
    )
