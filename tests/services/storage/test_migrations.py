"""Tests of the Alembic migrations on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from services.storage.engine import alembic_config, make_engine, upgrade_database
from services.storage.tables import metadata

ROOT = Path(__file__).resolve().parents[3]
TABLES = {
    "jobs",
    "images",
    "predictions",
    "image_errors",
    "chunk_runs",
    "annotations",
    "annotation_events",
    "samples",
    "sample_items",
    "suggestions",
}


def _head() -> str:
    engine = make_engine("sqlite://")
    try:
        head = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
    finally:
        engine.dispose()
    assert head is not None
    return head


def _revision(url: str) -> str | None:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def _table_names(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_creates_tables(empty_database_url: str) -> None:
    assert _table_names(empty_database_url) == set()
    upgrade_database(empty_database_url)
    assert _table_names(empty_database_url) == TABLES | {"alembic_version"}
    assert _revision(empty_database_url) == _head()


def test_upgrade_twice_is_harmless(empty_database_url: str) -> None:
    upgrade_database(empty_database_url)
    upgrade_database(empty_database_url)
    assert _revision(empty_database_url) == _head()


def test_migrated_schema_matches_tables(empty_database_url: str) -> None:
    upgrade_database(empty_database_url)
    engine = make_engine(empty_database_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": True}
            )
            differences = compare_metadata(context, metadata)
    finally:
        engine.dispose()
    assert differences == []


def test_migrated_columns(empty_database_url: str) -> None:
    upgrade_database(empty_database_url)
    engine = make_engine(empty_database_url)
    try:
        inspector = sa.inspect(engine)
        columns = {
            table: {column["name"] for column in inspector.get_columns(table)}
            for table in TABLES
        }
        prediction_keys = inspector.get_unique_constraints("predictions")
    finally:
        engine.dispose()
    assert {"state", "analysis_state", "criterion", "metrics"} <= columns["jobs"]
    assert {"ground_truth", "real_labels", "width", "height"} <= columns["images"]
    assert {"top5", "gt_rank", "members", "entropy"} <= columns["predictions"]
    assert {"job_id", "image_id", "reason"} <= columns["image_errors"]
    assert {"chunk", "attempts", "done"} <= columns["chunk_runs"]
    assert [key["column_names"] for key in prediction_keys] == [["job_id", "image_id"]]


def test_downgrade_to_base_drops_tables(empty_database_url: str) -> None:
    upgrade_database(empty_database_url)
    engine = make_engine(empty_database_url)
    try:
        command.downgrade(alembic_config(engine), "base")
    finally:
        engine.dispose()
    assert _table_names(empty_database_url) == {"alembic_version"}
    assert _revision(empty_database_url) is None


def test_concurrent_upgrades_from_processes(empty_database_url: str) -> None:
    script = (
        "import sys\n"
        "from services.storage.engine import upgrade_database\n"
        "upgrade_database(sys.argv[1])\n"
    )
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", script, empty_database_url],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(4)
    ]
    outputs = [process.communicate(timeout=120)[0] for process in processes]
    codes = [process.returncode for process in processes]
    assert codes == [0, 0, 0, 0], "\n".join(outputs)
    assert _revision(empty_database_url) == _head()


def test_upgrade_from_built_wheel(tmp_path: Path) -> None:
    pytest.importorskip("setuptools")
    source = tmp_path / "source"
    source.mkdir()

    shutil.copy(ROOT / "pyproject.toml", source)
    shutil.copytree(
        ROOT / "services",
        source / "services",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--quiet",
            "--wheel-dir",
            str(tmp_path / "dist"),
            str(source),
        ],
        check=True,
        capture_output=True,
        cwd=tmp_path,
    )

    (wheel,) = (tmp_path / "dist").glob("*.whl")
    installed = tmp_path / "installed"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(installed)
    assert (installed / "services/storage/migrations/env.py").is_file()

    url = f"sqlite:///{tmp_path / 'from-wheel.db'}"
    script = (
        "import sys\n"
        "import services.storage.engine as engine\n"
        "assert engine.__file__.startswith(sys.argv[2]), engine.__file__\n"
        "engine.upgrade_database(sys.argv[1])\n"
    )
    # The editable install of the checkout must not shadow the wheel's copy,
    # so the site folder is left out (-S) and the wheel comes first.
    site_paths = [path for path in sys.path if path and Path(path).is_dir()]
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(installed), *site_paths]),
    }
    subprocess.run(
        [sys.executable, "-S", "-c", script, url, str(installed)],
        check=True,
        cwd=tmp_path,
        env=environment,
    )
    assert _table_names(url) == TABLES | {"alembic_version"}
