"""The jobs, job, statistics and try pages in headless Chromium and over HTTP."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.ui.conftest import LiveServer, PageWatch, enter_key, screenshot

pytestmark = pytest.mark.browser

PAGES = ["/ui/", "/ui/stats", "/ui/try"]
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)


def no_horizontal_overflow(page: Any) -> bool:
    return page.evaluate(
        "document.documentElement.scrollWidth <= window.innerWidth + 1"
    )


@pytest.mark.parametrize("path", PAGES + ["/ui/samples/1/review"])
def test_page_sends_csp_without_inline_script(
    live_server: LiveServer, path: str
) -> None:
    response = live_server.api("GET", path)
    assert response.status_code == 200
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "default-src 'self'" in policy
    assert "object-src 'none'" in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert INLINE_SCRIPT.findall(response.text) == []
    assert re.search(r"\son[a-z]+=", response.text) is None
    assert "http://" not in response.text
    assert "https://" not in response.text


def test_static_script_served_with_csp(live_server: LiveServer) -> None:
    response = live_server.api("GET", "/ui/static/review.js")
    assert response.status_code == 200
    assert "javascript" in response.headers["Content-Type"]
    assert "Content-Security-Policy" in response.headers
    assert "innerHTML" not in response.text


def test_scripts_never_write_html() -> None:
    folder = Path(__file__).resolve().parents[2] / "api" / "static" / "ui"
    scripts = sorted(folder.glob("*.js"))
    assert [path.name for path in scripts] == [
        "common.js",
        "job.js",
        "jobs.js",
        "review.js",
        "stats.js",
        "try.js",
    ]
    for path in scripts:
        text = path.read_text()
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write"):
            assert sink not in text, f"{path.name} uses {sink}"


def test_unknown_job_page_is_404(live_server: LiveServer) -> None:
    response = live_server.api("GET", "/ui/jobs/999999")
    assert response.status_code == 404
    assert "job 999999 not found" in response.text
    assert response.headers["Content-Type"].startswith("text/html")


def test_jobs_page_shows_form_job(
    page: Any, watch: PageWatch, live_server: LiveServer, form_job: dict
) -> None:
    page.goto(f"{live_server.url}/ui/")
    row = page.wait_for_selector(f"#jobs-body tr[data-job-id='{form_job['id']}']")
    assert row.get_attribute("data-state") == "done"
    assert "imagenet-val 1–50000" in row.text_content()
    width = row.eval_on_selector(".progress-fill", "e => e.style.width")
    assert width == "100%"
    failures = str(form_job["metrics"]["failures"])
    assert failures in row.text_content()
    assert f"{form_job['counts']['missing']} missing" in row.text_content()
    assert row.query_selector("a").get_attribute("href") == f"/ui/jobs/{form_job['id']}"
    assert watch.console_errors == []


def test_jobs_form_without_key_refuses(
    page: Any, live_server: LiveServer, form_job: dict
) -> None:
    before = live_server.api("GET", "/v1/jobs").json()["total"]
    page.goto(f"{live_server.url}/ui/")
    page.fill("#job-start", "1")
    page.fill("#job-stop", "10")
    page.click("#job-submit")
    page.wait_for_selector("#job-form-result.error-text")
    assert "needs an API key" in page.text_content("#job-form-result")
    assert "needs an API key" in page.text_content("#message")
    assert live_server.api("GET", "/v1/jobs").json()["total"] == before


def test_jobs_form_shows_validation_error(
    page: Any, live_server: LiveServer, form_job: dict
) -> None:
    page.goto(f"{live_server.url}/ui/")
    enter_key(page)
    page.check("input[name=dataset][value=folder]")
    page.fill("#job-path", "<b>no-such-folder</b>")
    page.click("#job-submit")
    page.wait_for_selector("#job-form-result.error-text")
    text = page.text_content("#job-form-result")
    assert "<b>no-such-folder</b>" in text
    assert page.locator("#job-form-result b").count() == 0


def test_job_page_grid_and_filters(
    page: Any, watch: PageWatch, live_server: LiveServer, form_job: dict
) -> None:
    job_id = form_job["id"]
    page.goto(f"{live_server.url}/ui/jobs/{job_id}")
    page.wait_for_selector("#job-state.state-done")
    page.wait_for_selector("#failure-grid li")
    total = form_job["metrics"]["failures"]
    assert page.text_content("#failures-total") == f"({total}, top1)"
    assert page.locator("#failure-grid li").count() == min(total, 48)
    assert "Top-1 error" in page.text_content("#job-metrics")
    page.wait_for_function(
        "() => [...document.querySelectorAll('#failure-grid img')].slice(0, 4)"
        ".every(image => image.complete && image.naturalWidth > 0)"
    )

    # The ground-truth filter lists the job's classes and narrows the grid.
    page.wait_for_function(
        "() => document.getElementById('filter-gt').options.length > 1"
    )
    option = page.locator("#filter-gt option").nth(1)
    class_index = option.get_attribute("value")
    expected = live_server.api(
        "GET", f"/v1/jobs/{job_id}/failures?ground_truth={class_index}"
    ).json()
    page.select_option("#filter-gt", class_index)
    page.wait_for_function(
        "n => document.querySelectorAll('#failure-grid li').length === n",
        arg=len(expected["items"]),
    )
    tiles = [tile.text_content() for tile in page.query_selector_all(".failure-tile")]
    name = expected["items"][0]["ground_truth"]["name"]
    assert all(f"GT: {name}" in text for text in tiles)

    if form_job["analysis_state"] == "done":
        page.click("#filter-clear")
        page.select_option("#filter-suggested", "incorrect_pc")
        page.wait_for_function(
            "() => [...document.querySelectorAll('.failure-tile')].every(tile =>"
            " tile.textContent.includes('5. Incorrect PC'))"
        )
        assert page.locator(".failure-tile").count() >= 1

    page.click("#filter-clear")
    page.wait_for_function(
        "n => document.querySelectorAll('#failure-grid li').length === n",
        arg=min(total, 48),
    )
    screenshot(page, "job.png")
    assert watch.console_errors == []


def test_job_page_sample_too_large_conflict(
    page: Any, live_server: LiveServer, form_job: dict
) -> None:
    page.goto(f"{live_server.url}/ui/jobs/{form_job['id']}")
    enter_key(page)
    page.fill("#sample-size", "100000")
    page.click("#sample-submit")
    page.wait_for_selector("#sample-result.error-text")
    assert "fewer than the requested size" in page.text_content("#sample-result")


def test_try_page_predicts_chosen_file(
    page: Any, watch: PageWatch, live_server: LiveServer, test_data_dir: Path
) -> None:
    image = test_data_dir / "imagenet-samples" / "n01440764_tench.JPEG"
    page.goto(f"{live_server.url}/ui/try")
    page.set_input_files("#try-file", str(image))
    page.wait_for_selector("#try-top5 li", timeout=90_000)
    assert page.locator("#try-top5 li").count() == 5
    assert page.text_content("#try-status") == f"Prediction for {image.name}"
    assert page.locator("#try-members li").count() >= 1
    assert "(0)" in page.text_content("#try-top5 li:first-child")
    assert watch.console_errors == []


def test_try_page_rejects_text_file(
    page: Any, live_server: LiveServer, tmp_path: Path
) -> None:
    fake = tmp_path / "<img src=x>.png"
    fake.write_text("not an image")
    page.goto(f"{live_server.url}/ui/try")
    page.set_input_files("#try-file", str(fake))
    page.wait_for_selector("#try-status.error-text", timeout=90_000)
    assert page.locator("#message img").count() == 0
    assert "<img src=x>.png" in page.text_content("#message")


@pytest.mark.parametrize("width", [1280, 420])
def test_layout_fits_window(
    page: Any, live_server: LiveServer, form_job: dict, width: int
) -> None:
    page.set_viewport_size({"width": width, "height": 800})
    sample = live_server.api(
        "POST",
        f"/v1/jobs/{form_job['id']}/samples",
        annotator="alice",
        json={"size": 3, "seed": 21},
    ).json()
    paths = [
        "/ui/",
        f"/ui/jobs/{form_job['id']}",
        f"/ui/samples/{sample['id']}/review",
        f"/ui/stats?job={form_job['id']}",
        "/ui/try",
    ]
    for path in paths:
        page.goto(live_server.url + path)
        page.wait_for_load_state("networkidle")
        assert no_horizontal_overflow(page), f"{path} overflows at {width} px"
    review = page.goto(f"{live_server.url}/ui/samples/{sample['id']}/review")
    assert review is not None
    page.wait_for_selector("#review:not([hidden])")
    side_by_side = page.evaluate(
        "() => { const figure = document.querySelector('.review-figure')"
        ".getBoundingClientRect(); const side = document.querySelector"
        "('.review-side').getBoundingClientRect(); return side.left >= figure.right; }"
    )
    assert side_by_side == (width >= 1000)
    if width < 1000:
        screenshot(page, "review-narrow.png")
