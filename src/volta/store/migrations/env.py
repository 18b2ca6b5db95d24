"""Alembic environment. Volta runs migrations on a connection it hands over in
`config.attributes["connection"]` (see volta.store.migrate), so the same code
serves `volta migrate`, `volta serve` and the tests."""

from __future__ import annotations

from alembic import context

from volta.store.models import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `volta migrate`, not the alembic command")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
