"""Predictions through the real API, Redis, worker and exported models."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

TENCH = "n01440764_tench.JPEG"


@pytest.fixture(scope="module")
def tench_bytes(test_data_dir: Path) -> bytes:
    return (test_data_dir / "imagenet-samples" / TENCH).read_bytes()


def test_multipart_tench_top1(client, tench_bytes):
    response = client.post(
        "/v1/predictions",
        data={"image": (io.BytesIO(tench_bytes), TENCH)},
        content_type="multipart/form-data",
    )
    assert response.status_code == 200
    body = response.get_json()
    assert body["predictions"][0]["name"] == "tench"
    assert body["predictions"][0]["wnid"] == "n01440764"
    assert len(body["predictions"]) == 5
    assert [m["name"] for m in body["members"]] == ["lite0", "lite1", "lite2"]
    assert len(body["ensemble"]["id"]) == 64
    assert body["ensemble"]["members"] == ["lite0", "lite1", "lite2"]
    assert body["execution_provider"] == "CPUExecutionProvider"


def test_raw_body_and_top_k(client, tench_bytes):
    response = client.post(
        "/v1/predictions?top_k=12", data=tench_bytes, content_type="image/jpeg"
    )
    assert response.status_code == 200
    body = response.get_json()
    assert len(body["predictions"]) == 12
    assert all(len(m["predictions"]) == 12 for m in body["members"])
    probabilities = [p["probability"] for p in body["predictions"]]
    assert probabilities == sorted(probabilities, reverse=True)


def test_ensemble_mean_of_members(client, tench_bytes):
    body = client.post(
        "/v1/predictions?top_k=1000", data=tench_bytes, content_type="image/jpeg"
    ).get_json()
    by_member = [
        {p["class_index"]: p["probability"] for p in m["predictions"]}
        for m in body["members"]
    ]
    for item in body["predictions"][:10]:
        mean = sum(member[item["class_index"]] for member in by_member) / 3
        assert item["probability"] == pytest.approx(mean, abs=1e-6)


def test_ensemble_id_matches_models(client, tench_bytes):
    models = client.get("/v1/models")
    assert models.status_code == 200
    prediction = client.post(
        "/v1/predictions", data=tench_bytes, content_type="image/jpeg"
    ).get_json()
    assert models.get_json()["ensemble"]["id"] == prediction["ensemble"]["id"]
    assert {m["input_size"] for m in models.get_json()["members"]} == {224, 240, 260}


def _assert_error(response, status: int, field: str | None) -> dict:
    assert response.status_code == status
    body = response.get_json()
    assert body["code"] == status
    assert body["message"]
    if field is not None:
        assert field in body["errors"]
    return body


def test_missing_image_part(client):
    response = client.post(
        "/v1/predictions",
        data={"photo": (io.BytesIO(b"abc"), "x.jpg")},
        content_type="multipart/form-data",
    )
    _assert_error(response, 400, "image")


def test_empty_image_part(client):
    response = client.post(
        "/v1/predictions",
        data={"image": (io.BytesIO(b""), "x.jpg")},
        content_type="multipart/form-data",
    )
    _assert_error(response, 400, "image")


def test_json_body_rejected(client):
    response = client.post("/v1/predictions", json={"image": "x"})
    _assert_error(response, 400, "image")


@pytest.mark.parametrize(
    "payload",
    [b"<!doctype html><html><body>hello</body></html>", b"just some text\n" * 20],
    ids=["html", "text"],
)
def test_non_image_as_jpeg(client, payload):
    response = client.post("/v1/predictions", data=payload, content_type="image/jpeg")
    _assert_error(response, 415, "image")


def test_truncated_jpeg(client, tench_bytes):
    truncated = tench_bytes[: int(len(tench_bytes) * 0.6)]
    response = client.post("/v1/predictions", data=truncated, content_type="image/jpeg")
    _assert_error(response, 422, "image")


def test_pixel_bomb_png_rejected(client):
    bomb = io.BytesIO()
    Image.new("1", (20000, 20000)).save(bomb, "PNG", optimize=True)
    assert len(bomb.getvalue()) < 200_000
    response = client.post(
        "/v1/predictions", data=bomb.getvalue(), content_type="image/png"
    )
    body = _assert_error(response, 413, "image")
    assert "20000x20000" in body["message"]


@pytest.mark.parametrize("top_k", ["0", "1001", "five"])
def test_invalid_top_k(client, tench_bytes, top_k):
    response = client.post(
        f"/v1/predictions?top_k={top_k}", data=tench_bytes, content_type="image/jpeg"
    )
    body = _assert_error(response, 422, "top_k")
    assert "top_k" in body["message"]


def test_worker_survives_bad_inputs(client, tench_bytes):
    for payload in (b"", b"<html>", tench_bytes[:5000]):
        client.post("/v1/predictions", data=payload, content_type="image/jpeg")
    response = client.post(
        "/v1/predictions", data=tench_bytes, content_type="image/jpeg"
    )
    assert response.status_code == 200
    assert response.get_json()["predictions"][0]["name"] == "tench"


def test_readyz_with_worker(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json()["status"] == "ready"


def test_openapi_and_docs(client):
    spec = client.get("/openapi.json")
    assert spec.status_code == 200
    assert "/v1/predictions" in spec.get_json()["paths"]
    page = client.get("/docs")
    assert page.status_code == 200
    assert b"/v1/predictions" in page.data


def test_result_keys_expire(client, tench_bytes, redis_server, service_settings):
    from worker.celery_app import WORKER_STATUS_TASK, create_celery

    # This result is not forgotten, so its key stays until Redis expires it.
    result = create_celery(service_settings).send_task(WORKER_STATUS_TASK)
    result.get(timeout=60)
    ttl = redis_server.client().ttl(f"celery-task-meta-{result.id}")
    assert 0 < ttl <= service_settings.result_expires_s


def test_no_result_key_without_expiry(client, tench_bytes, redis_server):
    client.post("/v1/predictions", data=tench_bytes, content_type="image/jpeg")
    redis = redis_server.client()
    keys = list(redis.scan_iter("celery-task-meta-*", count=1000))
    # TTL -1 means a key that never expires.
    assert [key for key in keys if redis.ttl(key) == -1] == []
