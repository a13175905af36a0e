"""Database engines and schema upgrades for SQLite and PostgreSQL.

SQLite is the default. Every SQLite connection gets WAL journaling, a busy
timeout and foreign keys, and SQLAlchemy emits the BEGIN itself so that a
writing transaction can take the write lock up front (``BEGIN IMMEDIATE``)
instead of failing when it upgrades a read lock. PostgreSQL is reached through
psycopg 3.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import URL, Engine, make_url

logger = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 30_000
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# Execution option that makes a SQLite transaction start with BEGIN IMMEDIATE.
WRITE_OPTION = "failcat_write"

# Key of the PostgreSQL advisory lock held while migrations run.
MIGRATION_LOCK_KEY = 0x6661696C636174


def normalize_url(url: str | URL) -> URL:
    """Parse a database URL, making plain PostgreSQL URLs use psycopg 3."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def _on_sqlite_connect(dbapi_connection: Any, connection_record: Any) -> None:
    # Hand transaction control to SQLAlchemy: pysqlite would otherwise issue
    # its own deferred BEGIN before the first write.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        # The busy timeout comes first so that switching to WAL waits for
        # other processes instead of failing.
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _on_sqlite_begin(connection: sa.Connection) -> None:
    if connection.get_execution_options().get(WRITE_OPTION):
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        connection.exec_driver_sql("BEGIN")


def make_engine(url: str | URL, **kwargs: Any) -> Engine:
    """Create an engine for ``url`` with failcat's connection settings.

    For a SQLite file, the folder that contains it is created when missing.
    Create engines after a worker process forks, or dispose of them there.
    """
    parsed = normalize_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(parsed, **kwargs)
        sa.event.listen(engine, "connect", _on_sqlite_connect)
        sa.event.listen(engine, "begin", _on_sqlite_begin)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return sa.create_engine(parsed, **kwargs)


def writer(engine: Engine) -> Engine:
    """Return a view of ``engine`` whose transactions are made to write."""
    return engine.execution_options(**{WRITE_OPTION: True})


def alembic_config(engine: Engine) -> Config:
    """Build the Alembic configuration for the packaged migrations.

    The configuration is built in code, without an alembic.ini, so it works
    wherever the package is installed.
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def upgrade_database(url: str | URL) -> None:
    """Run the migrations up to the newest revision.

    Several processes may call this at the same time. All migrations run in
    one transaction, which takes the SQLite write lock (``BEGIN IMMEDIATE``)
    or a PostgreSQL advisory lock first, so later callers wait and then find
    the schema current.
    """
    engine = make_engine(url)
    try:
        logger.info("Upgrading database %s", engine.url.render_as_string())
        command.upgrade(alembic_config(engine), "head")
    finally:
        engine.dispose()
