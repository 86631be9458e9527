"""Alembic environment of loop's schema.

Run by loop itself (`loop.storage.migrations`), never through an alembic.ini:
the caller hands over an open connection (already inside its transaction, so
a whole upgrade commits or rolls back as one) in `config.attributes`, or, for
offline SQL rendering, a dialect name.
"""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import loop.storage.tables  # noqa: F401  (puts the tables on SQLModel.metadata)

config = context.config

if context.is_offline_mode():
    context.configure(
        dialect_name=config.attributes["dialect"],
        target_metadata=SQLModel.metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    context.configure(
        connection=config.attributes["connection"],
        target_metadata=SQLModel.metadata,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
