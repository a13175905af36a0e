"""The API without any worker: readiness and predictions answer 503 promptly."""

from __future__ import annotations

import io
import time
from dataclasses import replace

import pytest
from PIL import Image

from tests.support import EmbeddedRedis, base_settings


@pytest.fixture(scope="module")
def lonely_client(tmp_path_factory):
    from api import create_app

    server = EmbeddedRedis()
    settings = base_settings(
        tmp_path_factory.mktemp("lonely"), server.url, tmp_path_factory.mktemp("m")
    )
    settings = replace(settings, predict_timeout_s=3.0)
    app = create_app({"TESTING": True}, settings=settings)
    yield app.test_client()
    server.close()


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 30, 30)).save(buffer, "PNG")
    return buffer.getvalue()


def test_prediction_without_worker(lonely_client):
    response = lonely_client.post(
        "/v1/predictions", data=_png(), content_type="image/png"
    )
    assert response.status_code == 503
    assert "worker" in response.get_json()["message"]


def test_readyz_without_worker(lonely_client):
    response = lonely_client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["status"] == "not ready"


def test_healthz_without_worker(lonely_client):
    assert lonely_client.get("/healthz").status_code == 200


def test_models_without_worker(lonely_client):
    assert lonely_client.get("/v1/models").status_code == 503


def test_redis_unreachable(tmp_path):
    from api import create_app

    settings = base_settings(
        tmp_path, "redis+socket:///nonexistent/redis.sock", tmp_path
    )
    client = create_app({"TESTING": True}, settings=settings).test_client()
    response = client.post("/v1/predictions", data=_png(), content_type="image/png")
    assert response.status_code == 503


def test_readyz_worker_without_models(tmp_path_factory):
    from api import create_app
    from tests.support import WorkerProcess

    server = EmbeddedRedis()
    tmp = tmp_path_factory.mktemp("nomodels")
    settings = base_settings(tmp, server.url, tmp / "empty-models")
    worker = WorkerProcess(settings, "bare@%h", tmp / "worker.log")
    try:
        client = create_app({"TESTING": True}, settings=settings).test_client()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            response = client.get("/readyz")
            details = response.get_json().get("details", [])
            if details and details[0].get("error"):
                break
            time.sleep(0.25)
        assert response.status_code == 503
        assert "failcat export" in response.get_json()["details"][0]["error"]
        assert client.get("/v1/models").status_code == 503
    finally:
        worker.stop()
        server.close()


def test_job_without_redis_503(tmp_path):
    from api import create_app
    from services.storage.engine import upgrade_database
    from tests.support import auth

    settings = base_settings(
        tmp_path, "redis+socket:///nonexistent/redis.sock", tmp_path
    )
    upgrade_database(settings.effective_database_url)
    client = create_app({"TESTING": True}, settings=settings).test_client()
    response = client.post(
        "/v1/jobs",
        json={"dataset": "folder", "path": "anything"},
        headers=auth(),
    )
    assert response.status_code == 503
    assert client.get("/v1/jobs").get_json()["total"] == 0
