"""Samples and statistics through the real API, worker and models."""

from __future__ import annotations

import argparse
import csv
import io
import math
from collections import Counter
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from api.cli_stats import register_stats
from services.categories import CATEGORY_KEYS
from services.storage.engine import make_engine
from services.storage.repositories import Repository
from services.storage.tables import annotations, images, predictions
from tests.api.test_annotations import assert_error, failure_ids, finished_job
from tests.support import auth

# The 97.5th percentile of the standard normal distribution.
Z_95 = 1.959963984540054


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
    assert len(found) >= 40
    return found


@pytest.fixture
def engine(service_settings):
    engine = make_engine(service_settings.effective_database_url)
    yield engine
    engine.dispose()


def _sample(client, job_id: int, size: int, seed, annotator: str = "alice"):
    return client.post(
        f"/v1/jobs/{job_id}/samples",
        json={"size": size, "seed": seed},
        headers=auth(annotator),
    )


def _images(body: dict) -> list[str]:
    return [item["image"] for item in body["items"]]


# Samples


def test_sample_same_after_restart(module_client, service_settings, job, failures):
    from api import create_app

    first = _sample(module_client, job["id"], 40, 7)
    second = _sample(module_client, job["id"], 40, 7)
    restarted = create_app({"TESTING": True}, settings=service_settings).test_client()
    third = _sample(restarted, job["id"], 40, 7, annotator="bob")
    reloaded = restarted.get(f"/v1/samples/{first.get_json()['id']}")
    other_seed = _sample(module_client, job["id"], 40, 8)

    body = first.get_json()
    assert first.status_code == 201
    assert first.headers["Location"] == f"/v1/samples/{body['id']}"
    assert body["job"] == job["id"]
    assert body["size"] == 40
    assert body["seed"] == 7
    assert [item["position"] for item in body["items"]] == list(range(40))
    assert len(set(_images(body))) == 40
    assert set(_images(body)) <= set(failures)
    assert body["items"][0]["image_url"] == f"/v1/images/{body['items'][0]['image']}"
    assert _images(second.get_json()) == _images(body)
    assert _images(third.get_json()) == _images(body)
    assert _images(reloaded.get_json()) == _images(body)
    assert _images(other_seed.get_json()) != _images(body)


def test_sample_too_large_409(module_client, job, failures):
    assert_error(_sample(module_client, job["id"], len(failures) + 1, 7), 409)


def test_sample_of_queued_job_409(module_client, service_settings):
    engine = make_engine(service_settings.effective_database_url)
    try:
        queued = Repository(engine).create_job(dataset="imagenet-val", start=1, stop=2)
    finally:
        engine.dispose()
    assert_error(_sample(module_client, queued.id, 1, 7), 409)


def test_sample_unknown_job_404(module_client):
    assert_error(_sample(module_client, 987654, 1, 7), 404)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"size": 0, "seed": 1}, "size"),
        ({"size": "ten", "seed": 1}, "size"),
        ({"seed": 1}, "size"),
        ({"size": 2, "seed": "x"}, "seed"),
        ({"size": 2, "seed": -1}, "seed"),
        ({"size": 2}, "seed"),
    ],
)
def test_sample_bad_body_422(module_client, job, body, field):
    response = module_client.post(
        f"/v1/jobs/{job['id']}/samples", json=body, headers=auth()
    )
    assert_error(response, 422, field)


def test_sample_needs_key(module_client, job):
    response = module_client.post(
        f"/v1/jobs/{job['id']}/samples", json={"size": 1, "seed": 1}
    )
    assert_error(response, 401)


def test_unknown_sample_404(module_client):
    assert_error(module_client.get("/v1/samples/987654"), 404)
    assert_error(module_client.get("/v1/samples/987654/next", headers=auth()), 404)


def test_next_and_progress(module_client, job):
    sample = _sample(module_client, job["id"], 3, 11).get_json()
    url = f"/v1/samples/{sample['id']}"
    images_in_order = _images(sample)

    first = module_client.get(f"{url}/next", headers=auth("carol")).get_json()
    module_client.post(
        "/v1/annotations",
        json={"job": job["id"], "image": images_in_order[0], "category": 1},
        headers=auth("carol"),
    )
    second = module_client.get(f"{url}/next", headers=auth("carol")).get_json()
    progress = module_client.get(url, headers=auth("carol")).get_json()
    for_bob = module_client.get(f"{url}/next?annotator=bob").get_json()
    for image in images_in_order[1:]:
        module_client.post(
            "/v1/annotations",
            json={"job": job["id"], "image": image, "category": 2},
            headers=auth("carol"),
        )
    finished = module_client.get(f"{url}/next", headers=auth("carol"))
    anonymous = module_client.get(f"{url}/next")

    assert first["item"]["position"] == 0
    assert first["done"] is False
    assert second["item"]["image"] == images_in_order[1]
    assert progress["annotated"] == 1
    assert progress["remaining"] == 2
    assert progress["items"][0]["annotation"]["category"] == "similar_labels"
    assert progress["items"][1]["annotation"] is None
    assert for_bob["item"]["image"] == images_in_order[0]
    assert finished.status_code == 200
    assert finished.get_json()["item"] is None
    assert finished.get_json()["done"] is True
    assert_error(anonymous, 401)


# Statistics


def _wilson(successes: int, n: int) -> tuple[float, float]:
    p = successes / n
    z2 = Z_95 * Z_95
    center = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = Z_95 * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return max(0.0, center - half), min(1.0, center + half)


def _cohen(pairs: list[tuple[str, str]]) -> float:
    n = len(pairs)
    observed = sum(1 for a, b in pairs if a == b) / n
    first = Counter(a for a, _ in pairs)
    second = Counter(b for _, b in pairs)
    expected = sum(first[key] * second[key] for key in CATEGORY_KEYS) / (n * n)
    return (observed - expected) / (1 - expected)


@pytest.fixture(scope="module")
def stats_job(module_client) -> dict:
    """A job of its own, so that other tests' annotations do not change counts."""
    job = finished_job(module_client)
    found = failure_ids(module_client, job["id"])
    keys = list(CATEGORY_KEYS)
    # alice labels failures 0 to 29, bob 10 to 39; on the 20 shared ones they
    # agree when the index is even.
    for index, image in enumerate(found[:30]):
        module_client.post(
            "/v1/annotations",
            json={"job": job["id"], "image": image, "category": keys[index % 5]},
            headers=auth("alice"),
        )
    for index, image in enumerate(found[10:40], start=10):
        shift = 0 if index % 2 == 0 else 1 + index % 3
        module_client.post(
            "/v1/annotations",
            json={
                "job": job["id"],
                "image": image,
                "category": keys[(index + shift) % 5],
            },
            headers=auth("bob"),
        )
    return job


def _stored_labels(engine, job_id: int) -> list[sa.Row]:
    with engine.connect() as connection:
        return connection.execute(
            sa.select(
                annotations.c.image_id, annotations.c.annotator, annotations.c.category
            ).where(
                annotations.c.job_id == job_id, annotations.c.retracted_at.is_(None)
            )
        ).all()


def test_stats_match_stored_rows(module_client, engine, stats_job):
    body = module_client.get(f"/v1/stats?job={stats_job['id']}").get_json()
    stored = _stored_labels(engine, stats_job["id"])
    counts = Counter(row.category for row in stored)
    by_key = {row["category"]: row for row in body["categories"]}

    assert body["total"] == len(stored)
    assert body["failures_annotated"] == len({row.image_id for row in stored})
    for key in CATEGORY_KEYS:
        low, high = _wilson(counts[key], len(stored))
        assert by_key[key]["count"] == counts[key]
        assert by_key[key]["rate"] == pytest.approx(counts[key] / len(stored))
        assert by_key[key]["ci_low"] == pytest.approx(low, abs=1e-9)
        assert by_key[key]["ci_high"] == pytest.approx(high, abs=1e-9)


def test_stats_kappa_match_stored_rows(module_client, engine, stats_job):
    body = module_client.get(f"/v1/stats?job={stats_job['id']}").get_json()
    stored = _stored_labels(engine, stats_job["id"])
    labels: dict[str, dict[str, str]] = {}
    for row in stored:
        labels.setdefault(row.image_id, {})[row.annotator] = row.category
    pairs = [(v["alice"], v["bob"]) for v in labels.values() if len(v) == 2]

    agreement = body["agreement"]
    assert agreement["method"] == "cohen"
    assert agreement["annotators"] == ["alice", "bob"]
    assert agreement["shared_items"] == len(pairs) == 20
    assert agreement["kappa"] == pytest.approx(_cohen(pairs))
    assert set(agreement["per_category"]) == set(CATEGORY_KEYS)


def test_stats_one_annotator(module_client, engine, stats_job):
    body = module_client.get(
        f"/v1/stats?job={stats_job['id']}&annotator=bob"
    ).get_json()
    bob = [
        row for row in _stored_labels(engine, stats_job["id"]) if row.annotator == "bob"
    ]
    assert body["annotator"] == "bob"
    assert body["total"] == len(bob) == 30
    assert body["agreement"]["method"] is None
    assert body["paper_comparison"]["total"] == 30
    assert 0.0 <= body["paper_comparison"]["p_value"] <= 1.0


def test_stats_confusions_and_classes(module_client, engine, stats_job):
    body = module_client.get(f"/v1/stats?job={stats_job['id']}&pairs=5").get_json()
    joined = predictions.join(images, predictions.c.image_id == images.c.id)
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(
                images.c.ground_truth,
                predictions.c.predicted_class,
                predictions.c.is_top1_failure,
            )
            .select_from(joined)
            .where(predictions.c.job_id == stats_job["id"])
        ).all()
    pair_counts = Counter(
        (row.ground_truth, row.predicted_class) for row in rows if row.is_top1_failure
    )
    per_class = Counter(row.ground_truth for row in rows)
    failed = Counter(row.ground_truth for row in rows if row.is_top1_failure)
    top = body["class_failure_rates"][0]
    top_class = top["ground_truth"]["class_index"]

    assert len(body["confusion_pairs"]) == 5
    assert body["confusion_pairs"][0]["count"] == max(pair_counts.values())
    for pair in body["confusion_pairs"]:
        key = (
            pair["ground_truth"]["class_index"],
            pair["predicted_class"]["class_index"],
        )
        assert pair["count"] == pair_counts[key]
    assert len(body["class_failure_rates"]) == len(per_class)
    assert top["rate"] == max(failed[c] / per_class[c] for c in per_class)
    assert top["images"] == per_class[top_class]
    assert top["failures"] == failed[top_class]
    assert "suggested" in body


def test_stats_of_sample(module_client, stats_job):
    sample = _sample(module_client, stats_job["id"], 10, 1).get_json()
    annotated = module_client.get(
        f"/v1/annotations?sample={sample['id']}&per_page=500"
    ).get_json()
    body = module_client.get(f"/v1/stats?sample={sample['id']}").get_json()
    assert body["job"] == stats_job["id"]
    assert body["total"] == annotated["total"]


def test_stats_csv_table(module_client, stats_job):
    response = module_client.get(f"/v1/stats?job={stats_job['id']}&format=csv")
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    as_json = module_client.get(f"/v1/stats?job={stats_job['id']}").get_json()
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert [row["category"] for row in rows] == list(CATEGORY_KEYS)
    assert [int(row["count"]) for row in rows] == [
        row["count"] for row in as_json["categories"]
    ]


def test_stats_markdown_table(module_client, stats_job):
    response = module_client.get(f"/v1/stats?job={stats_job['id']}&format=md")
    lines = response.get_data(as_text=True).splitlines()
    assert response.status_code == 200
    assert response.mimetype == "text/markdown"
    assert len(lines) == 2 + len(CATEGORY_KEYS)
    for line, key in zip(lines[2:], CATEGORY_KEYS, strict=True):
        assert f"| {key} |" in line


@pytest.mark.parametrize(
    ("query", "status", "field"),
    [
        ("", 422, "job"),
        ("?job=abc", 422, "job"),
        ("?job=987654", 404, None),
        ("?sample=987654", 404, None),
        ("?job=1&format=xlsx", 422, "format"),
        ("?job=1&pairs=-1", 422, "pairs"),
    ],
)
def test_stats_bad_query(module_client, stats_job, query, status, field):
    assert_error(module_client.get(f"/v1/stats{query}"), status, field)


def test_cli_prints_same_table(module_client, service_settings, stats_job, capsys):
    parser = argparse.ArgumentParser(prog="failcat")
    register_stats(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        ["stats", "--job", str(stats_job["id"]), "--format", "csv"]
    )

    code = args.handler(args, service_settings)
    printed = capsys.readouterr().out
    served = module_client.get(f"/v1/stats?job={stats_job['id']}&format=csv")
    assert code == 0
    assert printed == served.get_data(as_text=True)


def test_cli_text_summary(service_settings, stats_job, capsys):
    parser = argparse.ArgumentParser(prog="failcat")
    register_stats(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["stats", "--job", str(stats_job["id"])])

    args.handler(args, service_settings)
    printed = capsys.readouterr().out
    assert "incorrect_pc" in printed
    assert "cohen kappa, 2 annotators, 20 shared failures" in printed
