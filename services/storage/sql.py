"""Small SQL helpers shared by the repositories."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection


def utc_now() -> datetime:
    """Return the current time in UTC, as every stored timestamp is."""
    return datetime.now(UTC)


def as_utc(value: datetime | None) -> datetime | None:
    """Attach UTC to a timestamp read back without an offset.

    SQLite stores timestamps without an offset, and every timestamp failcat
    writes is UTC.
    """
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def dialect_insert(connection: Connection, table: sa.Table) -> Any:
    """Return the dialect's INSERT, which supports ON CONFLICT."""
    if connection.dialect.name == "postgresql":
        return postgresql.insert(table)
    if connection.dialect.name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(
        f"database dialect {connection.dialect.name!r} is not supported; "
        "use SQLite or PostgreSQL"
    )


def insert_new_rows(
    connection: Connection,
    table: sa.Table,
    unique_columns: list[sa.Column[Any]],
    values: list[dict[str, Any]],
) -> int:
    """Insert ``values``, skip rows whose unique columns exist, return the count added.

    Both failcat databases support ON CONFLICT DO NOTHING, so a redelivered
    batch leaves the rows already written as they are.
    """
    statement = (
        dialect_insert(connection, table)
        .on_conflict_do_nothing(index_elements=unique_columns)
        .returning(*table.primary_key.columns)
    )
    return len(connection.execute(statement, values).all())
