"""Robot keys may expire: `robot_key.expires_at` (null: never).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05

`loop robots add NAME --expires 30d` sets it; the API and the dashboard refuse
the token (401) from then on. Existing keys keep null and never expire.
Frozen: never edit this file.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

#: The loop_meta schema_version this revision leaves behind.
SCHEMA = 5


def upgrade() -> None:
    with op.batch_alter_table("robot_key") as batch:
        batch.add_column(
            sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True)
        )
    _set_schema(SCHEMA)


def downgrade() -> None:
    # ALTER TABLE ... DROP COLUMN (SQLite >= 3.35), as 0002 does
    with op.batch_alter_table("robot_key", recreate="never") as batch:
        batch.drop_column("expires_at")
    _set_schema(SCHEMA - 1)


def _set_schema(version: int) -> None:
    meta = sa.table(
        "loop_meta", sa.column("key", sa.String()), sa.column("value", sa.String())
    )
    op.execute(
        meta.update().where(meta.c.key == "schema_version").values(value=str(version))
    )
