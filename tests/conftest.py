"""Fixtures shared by the test suite: test data and databases.

``FAILCAT_TEST_DATA`` points at the folder of real ImageNet images. Tests that
need it skip when the variable is unset and fail when it names a missing
folder. Database tests run on a SQLite file and on the PostgreSQL server at
``FAILCAT_TEST_POSTGRES_URL`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``),
in a database created for the test session and dropped afterwards.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from psycopg import sql
from sqlalchemy.engine import Engine, make_url

from services.storage.engine import make_engine, upgrade_database
from services.storage.repositories import Repository

pytest_plugins = ["tests.support"]

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DATABASE_KINDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]


def skip_or_fail(reason: str) -> None:
    """Skip a test, or fail it where every test must run (CI, FAILCAT_REQUIRE_ALL)."""
    if os.environ.get("CI") or os.environ.get("FAILCAT_REQUIRE_ALL"):
        pytest.fail(f"{reason} (skipping is not allowed here)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def test_data_dir() -> Path:
    """Return the folder of real test images named by FAILCAT_TEST_DATA."""
    raw = os.environ.get("FAILCAT_TEST_DATA")
    if not raw:
        skip_or_fail("FAILCAT_TEST_DATA is not set; point it at the test data folder")
    folder = Path(raw)
    if not folder.is_dir():
        pytest.fail(f"FAILCAT_TEST_DATA={raw!r} is not a folder")
    return folder


def _admin_url() -> str:
    return os.environ.get("FAILCAT_TEST_POSTGRES_URL") or DEFAULT_POSTGRES_URL


def _admin_connection() -> psycopg.Connection:
    try:
        return psycopg.connect(_admin_url(), autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as error:
        skip_or_fail(f"PostgreSQL at {_admin_url()} is not reachable: {error}")


@contextlib.contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """Create an empty, uniquely named database and drop it afterwards."""
    name = f"failcat_test_{secrets.token_hex(6)}"
    with _admin_connection() as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield (
            make_url(_admin_url())
            .set(database=name)
            .render_as_string(hide_password=False)
        )
    finally:
        with _admin_connection() as connection:
            connection.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(name)
                )
            )


@pytest.fixture(scope="session")
def postgres_session_url() -> Iterator[str]:
    """Return the URL of this session's PostgreSQL database, upgraded to head."""
    with fresh_postgres_database() as url:
        upgrade_database(url)
        yield url


@pytest.fixture(params=DATABASE_KINDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Return the URL of an upgraded database with empty tables."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'failcat.db'}"
        upgrade_database(url)
        return url
    url = request.getfixturevalue("postgres_session_url")
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(
                sa.text(
                    "TRUNCATE jobs, images, predictions, image_errors, chunk_runs, "
                    "annotations, annotation_events, samples, sample_items, "
                    "suggestions "
                    "RESTART IDENTITY CASCADE"
                )
            )
    finally:
        engine.dispose()
    return url


@pytest.fixture(params=DATABASE_KINDS)
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Return the URL of a database without any table."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    with fresh_postgres_database() as url:
        yield url


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """Return an engine on the upgraded test database."""
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def repository(engine: Engine) -> Repository:
    """Return a repository on the upgraded test database."""
    return Repository(engine)
