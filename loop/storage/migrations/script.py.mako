"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}

Written by hand, backend-neutral (SQLite and PostgreSQL): alter tables inside
`op.batch_alter_table` so SQLite works, bump SCHEMA_VERSION in
loop/storage/tables.py and the loop_meta row below, and keep
tests/storage/test_migrations.py green (a migrated database must equal the
tables' metadata).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
${imports if imports else ""}
revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
branch_labels = None
depends_on = None

#: The loop_meta schema_version this revision leaves behind.
SCHEMA = 0


def upgrade() -> None:
    ${upgrades if upgrades else "pass"}
    _set_schema(SCHEMA)


def downgrade() -> None:
    ${downgrades if downgrades else "pass"}
    _set_schema(SCHEMA - 1)


def _set_schema(version: int) -> None:
    meta = sa.table(
        "loop_meta", sa.column("key", sa.String()), sa.column("value", sa.String())
    )
    op.execute(
        meta.update().where(meta.c.key == "schema_version").values(value=str(version))
    )
