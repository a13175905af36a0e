"""Suggestions end to end: a job over the validation images, analysed by the worker.

The job runs through the real API, Redis, Celery worker, database and exported
models. Its failures get suggestions on the analysis queue, and the API lists
them, filters by them and draws the example sheet from them.
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from api.cli_report import cmd_report
from services.categories import CATEGORY_KEYS
from tests.support import auth

JOB_TIMEOUT_S = 600


@pytest.fixture(scope="module")
def module_client(service_settings, worker):
    from api import create_app

    return create_app({"TESTING": True}, settings=service_settings).test_client()


@pytest.fixture(scope="module")
def analysed_job(module_client, test_data_dir: Path) -> dict[str, Any]:
    response = module_client.post(
        "/v1/jobs",
        json={"dataset": "imagenet-val", "start": 1, "stop": 50000},
        headers=auth("alice"),
    )
    assert response.status_code == 202, response.get_json()
    job_id = response.get_json()["id"]
    deadline = time.monotonic() + JOB_TIMEOUT_S
    job = response.get_json()
    while time.monotonic() < deadline:
        job = module_client.get(f"/v1/jobs/{job_id}").get_json()
        if job["state"] in ("failed", "cancelled"):
            pytest.fail(f"job {job_id} ended {job['state']}: {job['error']}")
        if job["state"] == "done" and job["analysis_state"] == "done":
            return job
        time.sleep(1.0)
    pytest.fail(f"job {job_id} not analysed after {JOB_TIMEOUT_S} s: {job}")


def _failures(client, job_id: int, query: str = "") -> dict[str, Any]:
    response = client.get(f"/v1/jobs/{job_id}/failures?per_page=500{query}")
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_job_has_failures(module_client, analysed_job) -> None:
    body = _failures(module_client, analysed_job["id"])
    assert body["total"] == analysed_job["metrics"]["failures"]
    assert 155 <= body["total"] <= 175


def test_every_failure_has_suggestion(module_client, analysed_job) -> None:
    items = _failures(module_client, analysed_job["id"])["items"]
    for item in items:
        suggestion = item["suggestion"]
        assert suggestion is not None, item["image"]
        assert suggestion["category"] in CATEGORY_KEYS, item["image"]
        assert 0.0 <= suggestion["confidence"] <= 1.0, item["image"]
        assert suggestion["evidence"], item["image"]
        assert suggestion["decided_by"], item["image"]


def test_evidence_matches_failure(module_client, analysed_job) -> None:
    items = _failures(module_client, analysed_job["id"])["items"]
    for item in items:
        evidence = item["suggestion"]["evidence"]
        assert evidence["gt_rank"] == max(2, item["gt_rank"]), item["image"]
        assert evidence["real_available"] is True, item["image"]
        assert evidence["real_empty"] is (item["real_labels"] == []), item["image"]


def test_filter_by_suggested_category(module_client, analysed_job) -> None:
    job_id = analysed_job["id"]
    total = 0
    for key in CATEGORY_KEYS:
        body = _failures(module_client, job_id, f"&suggested={key}")
        categories = {item["suggestion"]["category"] for item in body["items"]}
        assert categories <= {key}, key
        assert len(body["items"]) == body["total"], key
        total += body["total"]
    assert total == analysed_job["metrics"]["failures"]


def test_filter_pages_suggested_failures(module_client, analysed_job) -> None:
    job_id = analysed_job["id"]
    everything = _failures(module_client, job_id, "&suggested=incorrect_pc")
    response = module_client.get(
        f"/v1/jobs/{job_id}/failures?suggested=incorrect_pc&per_page=2&page=2"
    )
    body = response.get_json()
    assert body["total"] == everything["total"]
    expected = [item["image"] for item in everything["items"][2:4]]
    assert [item["image"] for item in body["items"]] == expected


def test_filter_rejects_unknown_category(module_client, analysed_job) -> None:
    response = module_client.get(
        f"/v1/jobs/{analysed_job['id']}/failures?suggested=blurry"
    )
    assert response.status_code == 422
    assert "suggested" in response.get_json()["errors"]


def test_example_sheet_png(module_client, analysed_job) -> None:
    response = module_client.get(
        f"/v1/reports/examples.png?job={analysed_job['id']}&per_category=2"
    )
    assert response.status_code == 200
    assert response.mimetype == "image/png"
    assert response.data[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("per_category", [0, 21])
def test_example_sheet_rejects_per_category(
    module_client, analysed_job, per_category: int
) -> None:
    response = module_client.get(
        f"/v1/reports/examples.png?job={analysed_job['id']}&per_category={per_category}"
    )
    assert response.status_code == 422
    assert "per_category" in response.get_json()["errors"]


def test_example_sheet_unknown_job(module_client, analysed_job) -> None:
    response = module_client.get("/v1/reports/examples.png?job=999999")
    assert response.status_code == 404


def test_example_sheet_before_analysis(module_client, analysed_job) -> None:
    repository = module_client.application.extensions["failcat_repository"]
    pending = repository.create_job(dataset="imagenet-val", start=1, stop=1)
    response = module_client.get(f"/v1/reports/examples.png?job={pending.id}")
    assert response.status_code == 409


def test_report_command_writes_files(
    service_settings, analysed_job, tmp_path: Path
) -> None:
    args = argparse.Namespace(job=analysed_job["id"], out=str(tmp_path), per_category=3)
    assert cmd_report(args, service_settings) == 0
    with Image.open(tmp_path / "examples.png") as sheet:
        assert sheet.width > sheet.height / 2
    rows = list(csv.DictReader((tmp_path / "stats.csv").open()))
    suggested = [row for row in rows if row["source"] == "suggested"]
    assert [row["category"] for row in suggested] == list(CATEGORY_KEYS)
    counted = sum(int(row["count"]) for row in suggested)
    assert counted == analysed_job["metrics"]["failures"]
    assert "## suggested" in (tmp_path / "stats.md").read_text()


def test_stats_show_suggested_distribution(module_client, analysed_job) -> None:
    job_id = analysed_job["id"]
    items = _failures(module_client, job_id)["items"]
    body = module_client.get(f"/v1/stats?job={job_id}").get_json()
    suggested = body["suggested"]
    assert suggested["analysis_state"] == "done"
    assert suggested["distribution"]["total"] == len(items)
    counts = {
        row["category"]: row["count"] for row in suggested["distribution"]["categories"]
    }
    for key in CATEGORY_KEYS:
        expected = sum(1 for i in items if i["suggestion"]["category"] == key)
        assert counts[key] == expected, key
    assert "compare" not in suggested


def test_stats_compare_with_annotator(module_client, analysed_job) -> None:
    job_id = analysed_job["id"]
    items = _failures(module_client, job_id)["items"][:4]
    # Carol agrees with the first three suggestions and not with the fourth.
    for index, item in enumerate(items):
        category = item["suggestion"]["category"]
        if index == 3:
            category = next(k for k in CATEGORY_KEYS if k != category)
        response = module_client.post(
            "/v1/annotations",
            json={"job": job_id, "image": item["image"], "category": category},
            headers=auth("carol"),
        )
        assert response.status_code in (200, 201), response.get_json()
    body = module_client.get(
        f"/v1/stats?job={job_id}&annotator=carol&compare=suggested"
    ).get_json()
    carol = body["suggested"]["compare"]["carol"]
    assert carol["items"] == 4
    assert carol["observed_agreement"] == 0.75
    assert len(carol["confusion_matrix"]) == 5
    assert sum(map(sum, carol["confusion_matrix"])) == 4


def test_stats_compare_rejects_unknown(module_client, analysed_job) -> None:
    response = module_client.get(f"/v1/stats?job={analysed_job['id']}&compare=people")
    assert response.status_code == 422
    assert "compare" in response.get_json()["errors"]
