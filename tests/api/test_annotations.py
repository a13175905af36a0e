"""Categories and annotations through the real API, worker and models."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from services.storage.engine import make_engine
from services.storage.tables import predictions
from tests.support import auth

JOB_TIMEOUT_S = 600


def finished_job(client: FlaskClient) -> dict:
    """Run a job over the validation folder and wait until it is done."""
    response = client.post(
        "/v1/jobs",
        json={"dataset": "imagenet-val", "start": 1, "stop": 50000},
        headers=auth("alice"),
    )
    assert response.status_code == 202
    job_id = response.get_json()["id"]
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}").get_json()
        if job["state"] not in ("queued", "running"):
            assert job["state"] == "done", job
            return job
        time.sleep(1.0)
    raise AssertionError(f"job {job_id} did not finish in {JOB_TIMEOUT_S} s")


def failure_ids(client: FlaskClient, job_id: int) -> list[str]:
    body = client.get(f"/v1/jobs/{job_id}/failures?per_page=500").get_json()
    return [item["image"] for item in body["items"]]


def assert_error(response, status: int, field: str | None = None) -> dict:
    """Check an error response; the field may sit under the request location."""
    body = response.get_json()
    assert response.status_code == status, body
    assert body["code"] == status
    assert body["message"]
    if field is not None:
        errors = body["errors"]
        nested = {
            name for part in errors.values() if isinstance(part, dict) for name in part
        }
        assert field in set(errors) | nested, errors
    return body


@pytest.fixture(scope="module")
def module_client(service_settings, worker) -> Iterator[FlaskClient]:
    from api import create_app

    yield create_app({"TESTING": True}, settings=service_settings).test_client()


@pytest.fixture(scope="module")
def job(module_client) -> dict:
    return finished_job(module_client)


@pytest.fixture(scope="module")
def failures(module_client, job) -> list[str]:
    found = failure_ids(module_client, job["id"])
    assert len(found) >= 30
    return found


def _post(client, job_id: int, image: str, category, annotator: str = "alice", **extra):
    body = {"job": job_id, "image": image, "category": category, **extra}
    return client.post("/v1/annotations", json=body, headers=auth(annotator))


def test_categories_listed(module_client):
    body = module_client.get("/v1/categories").get_json()
    keys = [item["key"] for item in body["items"]]
    assert keys == [
        "similar_labels",
        "not_salient_gt",
        "challenging_image",
        "incorrect_gt",
        "incorrect_pc",
    ]
    assert [item["paper_count"] for item in body["items"]] == [61, 87, 43, 79, 130]
    assert body["items"][4]["paper_rate"] == pytest.approx(0.325)
    assert body["items"][0]["prediction_correct"] is True
    assert body["items"][2]["definition"]


def test_create_then_change(module_client, job, failures):
    created = _post(module_client, job["id"], failures[0], "incorrect_gt", note="oboe")
    changed = _post(module_client, job["id"], failures[0], 5)
    body = created.get_json()
    assert created.status_code == 201
    assert created.headers["Location"] == f"/v1/annotations/{body['id']}"
    assert body["annotator"] == "alice"
    assert body["category"] == "incorrect_gt"
    assert body["category_id"] == 4
    assert body["note"] == "oboe"
    assert body["version"] == 1
    assert body["image_url"] == f"/v1/images/{failures[0]}"
    assert changed.status_code == 200
    assert changed.get_json()["id"] == body["id"]
    assert changed.get_json()["version"] == 2
    assert changed.get_json()["category"] == "incorrect_pc"


def test_post_needs_key(module_client, job, failures):
    response = module_client.post(
        "/v1/annotations", json={"job": job["id"], "image": failures[1], "category": 1}
    )
    assert_error(response, 401)


def test_unknown_job_404(module_client, failures):
    assert_error(_post(module_client, 987654, failures[1], 1), 404)


def test_image_not_failure_422(module_client, job, failures):
    missing = _post(module_client, job["id"], "imagenet-val:nothing", 1)
    assert_error(missing, 422, "image")


def test_correct_image_422(module_client, service_settings, job):
    engine = make_engine(service_settings.effective_database_url)
    try:
        with engine.connect() as connection:
            correct = connection.execute(
                sa.select(predictions.c.image_id).where(
                    predictions.c.job_id == job["id"],
                    predictions.c.is_top1_failure == sa.false(),
                )
            ).scalar()
    finally:
        engine.dispose()
    assert_error(_post(module_client, job["id"], correct, 1), 422, "image")


@pytest.mark.parametrize("category", ["blurry", 9, None, {"id": 1}])
def test_unknown_category_422(module_client, job, failures, category):
    response = _post(module_client, job["id"], failures[1], category)
    assert_error(response, 422, "category")


def test_note_too_long_422(module_client, job, failures):
    response = _post(module_client, job["id"], failures[1], 1, note="n" * 2001)
    assert_error(response, 422, "note")


@pytest.mark.parametrize("missing", ["job", "image", "category"])
def test_missing_field_422(module_client, job, failures, missing):
    body = {"job": job["id"], "image": failures[1], "category": 1}
    del body[missing]
    response = module_client.post("/v1/annotations", json=body, headers=auth())
    assert_error(response, 422, missing)


def test_job_of_wrong_type_422(module_client, failures):
    response = module_client.post(
        "/v1/annotations",
        json={"job": "three", "image": failures[1], "category": 1},
        headers=auth(),
    )
    assert_error(response, 422, "job")


def test_put_and_delete_owner_only(module_client, job, failures):
    created = _post(
        module_client, job["id"], failures[2], 1, annotator="bob"
    ).get_json()
    url = f"/v1/annotations/{created['id']}"

    put_by_alice = module_client.put(url, json={"category": 2}, headers=auth("alice"))
    delete_by_carol = module_client.delete(url, headers=auth("carol"))
    put_by_bob = module_client.put(
        url, json={"category": "challenging_image", "note": "dark"}, headers=auth("bob")
    )

    assert_error(put_by_alice, 403)
    assert_error(delete_by_carol, 403)
    assert put_by_bob.status_code == 200
    assert put_by_bob.get_json()["category"] == "challenging_image"
    assert put_by_bob.get_json()["note"] == "dark"
    assert put_by_bob.get_json()["version"] == 2


def test_put_invalid_values(module_client, job, failures):
    created = _post(module_client, job["id"], failures[3], 1).get_json()
    url = f"/v1/annotations/{created['id']}"
    assert_error(module_client.put(url, json={}, headers=auth()), 422, "category")
    assert_error(
        module_client.put(url, json={"category": "x"}, headers=auth()), 422, "category"
    )
    assert_error(
        module_client.put(url, json={"note": "n" * 2001}, headers=auth()), 422, "note"
    )


def test_put_unknown_annotation_404(module_client):
    response = module_client.put(
        "/v1/annotations/999999", json={"category": 1}, headers=auth()
    )
    assert_error(response, 404)


def test_retract_then_revive(module_client, job, failures):
    created = _post(module_client, job["id"], failures[4], 1).get_json()
    url = f"/v1/annotations/{created['id']}"

    retracted = module_client.delete(url, headers=auth())
    put_retracted = module_client.put(url, json={"category": 2}, headers=auth())
    listed = module_client.get(f"/v1/annotations?job={job['id']}&annotator=alice")
    listed_all = module_client.get(
        f"/v1/annotations?job={job['id']}&annotator=alice&include_retracted=true"
    )
    revived = _post(module_client, job["id"], failures[4], 3)
    stored_view = module_client.get(url).get_json()

    assert retracted.status_code == 200
    assert retracted.get_json()["retracted_at"] is not None
    assert_error(put_retracted, 409)
    assert created["id"] not in [item["id"] for item in listed.get_json()["items"]]
    assert created["id"] in [item["id"] for item in listed_all.get_json()["items"]]
    assert revived.status_code == 201
    assert revived.get_json()["retracted_at"] is None
    assert revived.get_json()["version"] == 3
    assert [event["action"] for event in stored_view["events"]] == [
        "created",
        "retracted",
        "created",
    ]
    assert [event["category"] for event in stored_view["events"]] == [
        "similar_labels",
        "similar_labels",
        "challenging_image",
    ]


def test_list_filters_and_history(module_client, job, failures):
    _post(module_client, job["id"], failures[5], "not_salient_gt", annotator="carol")
    _post(module_client, job["id"], failures[5], "incorrect_pc", annotator="carol")
    _post(module_client, job["id"], failures[6], "incorrect_pc", annotator="carol")

    by_carol = module_client.get(
        f"/v1/annotations?job={job['id']}&annotator=carol&history=true"
    ).get_json()
    by_category = module_client.get(
        f"/v1/annotations?job={job['id']}&annotator=carol&category=5&per_page=1"
    ).get_json()
    without_history = module_client.get(
        f"/v1/annotations?job={job['id']}&annotator=carol"
    ).get_json()

    assert set(by_carol) == {"items", "page", "per_page", "total"}
    assert by_carol["total"] == 2
    assert [e["version"] for e in by_carol["items"][0]["events"]] == [1, 2]
    assert by_category["total"] == 2
    assert len(by_category["items"]) == 1
    assert "events" not in without_history["items"][0]


def test_list_bad_filters(module_client, job):
    assert_error(module_client.get("/v1/annotations?job=987654"), 404)
    assert_error(module_client.get("/v1/annotations?sample=987654"), 404)
    assert_error(module_client.get("/v1/annotations?category=nope"), 422, "category")
    assert_error(module_client.get("/v1/annotations?per_page=501"), 422, "per_page")


def test_get_unknown_annotation_404(module_client):
    assert_error(module_client.get("/v1/annotations/999999"), 404)
