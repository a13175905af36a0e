"""Alembic environment for failcat's database.

The engine comes from ``config.attributes["engine"]`` (see
``services.storage.engine.alembic_config``), or else from the
``sqlalchemy.url`` option when Alembic runs from its command line.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from services.storage.engine import MIGRATION_LOCK_KEY, make_engine, writer
from services.storage.tables import metadata

config = context.config


def _run_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_online() -> None:
    engine = config.attributes.get("engine")
    owned = engine is None
    if engine is None:
        engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
    try:
        # One transaction for every step, opened before Alembic reads the
        # version table, so concurrent upgrades run one after the other.
        with writer(engine).begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(
                    sa.text("SELECT pg_advisory_xact_lock(:key)"),
                    {"key": MIGRATION_LOCK_KEY},
                )
            context.configure(
                connection=connection,
                target_metadata=metadata,
                render_as_batch=True,
                transactional_ddl=True,
            )
            context.run_migrations()
    finally:
        if owned:
            engine.dispose()


if context.is_offline_mode():
    _run_offline()
else:
    _run_online()
