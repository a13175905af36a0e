"""The review page in headless Chromium: keyboard annotation, notes, the API key."""

from __future__ import annotations

from typing import Any

import pytest

from tests.ui.conftest import LiveServer, PageWatch, enter_key, screenshot

pytestmark = pytest.mark.browser

CATEGORY_BY_KEY = {
    "1": "similar_labels",
    "2": "not_salient_gt",
    "3": "challenging_image",
    "4": "incorrect_gt",
    "5": "incorrect_pc",
}
SCRIPT_NOTE = "<script>alert(1)</script> n2"


def current_image(page: Any) -> str:
    return page.text_content("#review-image-id")


def wait_for_item(page: Any, previous: str | None = None) -> str:
    """Wait until the review shows an item with its image loaded, and return its id."""
    page.wait_for_selector("#review:not([hidden])")
    if previous is not None:
        page.wait_for_function(
            "old => document.getElementById('review-image-id').textContent !== old",
            arg=previous,
        )
    page.wait_for_function(
        "() => { const image = document.getElementById('review-image');"
        " return image.complete && image.naturalWidth > 0; }"
    )
    return current_image(page)


def draw_sample(
    live_server: LiveServer, job_id: int, annotator: str, seed: int
) -> dict:
    response = live_server.api(
        "POST",
        f"/v1/jobs/{job_id}/samples",
        annotator=annotator,
        json={"size": 6, "seed": seed},
    )
    assert response.status_code == 201, response.text
    return response.json()


def annotations_of(
    live_server: LiveServer, sample_id: int, annotator: str
) -> dict[str, dict]:
    response = live_server.api(
        "GET", f"/v1/annotations?sample={sample_id}&annotator={annotator}"
    )
    assert response.status_code == 200, response.text
    return {item["image"]: item for item in response.json()["items"]}


def open_review(page: Any, live_server: LiveServer, sample_id: int, key: str) -> str:
    """Enter the key on the jobs page, then open the review in the same tab."""
    page.goto(f"{live_server.url}/ui/")
    enter_key(page, key)
    page.goto(f"{live_server.url}/ui/samples/{sample_id}/review")
    return wait_for_item(page)


def test_review_records_keys_and_stats(
    page: Any, watch: PageWatch, live_server: LiveServer, form_job: dict
) -> None:
    job_id = form_job["id"]
    page.goto(f"{live_server.url}/ui/jobs/{job_id}")
    enter_key(page, "key-alice")
    page.fill("#sample-size", "12")
    page.fill("#sample-seed", "3")
    page.click("#sample-submit")
    link = page.wait_for_selector("#sample-review-link")
    sample_id = int(link.get_attribute("href").split("/")[3])
    link.click()
    page.wait_for_url(f"**/ui/samples/{sample_id}/review")

    recorded: dict[str, str] = {}
    image = wait_for_item(page)
    assert page.text_content("#review-position") == "failure 1 of 12"
    assert page.text_content("#review-gt").strip()
    assert page.text_content("#review-pc").strip()
    assert page.locator("#review-top5 li").count() >= 5
    assert page.locator("#review-members li.is-pc").count() >= 1

    failure = next(
        item
        for item in live_server.api(
            "GET", f"/v1/jobs/{job_id}/failures?per_page=500"
        ).json()["items"]
        if item["image"] == image
    )
    assert page.text_content("#review-gt").startswith(failure["ground_truth"]["name"])
    assert page.text_content("#review-pc").startswith(
        failure["predicted_class"]["name"]
    )
    gt_color = page.eval_on_selector(".label-gt", "e => getComputedStyle(e).color")
    pc_color = page.eval_on_selector(".label-pc", "e => getComputedStyle(e).color")
    assert gt_color == "rgb(198, 40, 40)"
    assert pc_color == "rgb(21, 101, 192)"
    if failure.get("suggestion"):
        highlighted = page.get_attribute("button.category.suggested", "data-category")
        assert highlighted == failure["suggestion"]["category"]
        assert page.locator("#review-evidence li").count() >= 1

    for key in ("1", "2", "5"):
        recorded[image] = CATEGORY_BY_KEY[key]
        page.keyboard.press(key)
        image = wait_for_item(page, previous=image)
    assert "3 annotated by you" in page.text_content("#review-progress")
    assert page.text_content("#review-position") == "failure 4 of 12"
    screenshot(page, "review.png")

    stored = annotations_of(live_server, sample_id, "alice")
    assert {image: item["category"] for image, item in stored.items()} == recorded

    page.goto(f"{live_server.url}/ui/stats?sample={sample_id}")
    page.wait_for_function(
        "() => document.getElementById('stats-total').textContent.includes('3 ')"
    )
    counts = {
        row.get_attribute("data-category"): row.query_selector(".count").text_content()
        for row in page.query_selector_all("#stats-body tr[data-category]")
    }
    assert counts == {
        "similar_labels": "1",
        "not_salient_gt": "1",
        "challenging_image": "0",
        "incorrect_gt": "0",
        "incorrect_pc": "1",
    }
    rate = page.text_content("#stats-body tr[data-category='incorrect_pc'] .rate")
    assert rate == "33.3%"
    interval = page.text_content(
        "#stats-body tr[data-category='incorrect_pc'] .interval-text"
    )
    assert interval != "–"
    assert " – " in interval
    assert page.get_attribute("#stats-csv", "href") == (
        f"/v1/stats?sample={sample_id}&format=csv"
    )
    assert page.get_attribute("#stats-md", "href") == (
        f"/v1/stats?sample={sample_id}&format=md"
    )
    if form_job["analysis_state"] == "done":
        assert page.text_content("#suggested-head") == "Suggested (of 12)"
        page.wait_for_selector("#examples-figure:not([hidden])", timeout=90_000)
        examples = page.get_attribute("#stats-examples", "href")
        assert examples == f"/v1/reports/examples.png?job={job_id}"
    screenshot(page, "stats.png")
    assert watch.console_errors == []


def test_review_note_with_script_is_text(
    page: Any, watch: PageWatch, live_server: LiveServer, form_job: dict
) -> None:
    sample = draw_sample(live_server, form_job["id"], "bob", seed=11)
    first = open_review(page, live_server, sample["id"], "key-bob")

    page.keyboard.press("n")
    assert page.evaluate("document.activeElement.id") == "review-note"
    page.keyboard.type(SCRIPT_NOTE)
    assert page.input_value("#review-note") == SCRIPT_NOTE
    # The digits and the n typed into the note recorded nothing and moved nowhere.
    assert current_image(page) == first
    assert annotations_of(live_server, sample["id"], "bob") == {}

    page.keyboard.press("Escape")
    assert page.evaluate("document.activeElement.id") != "review-note"
    page.keyboard.press("4")
    wait_for_item(page, previous=first)
    page.keyboard.press("ArrowLeft")
    assert wait_for_item(page) == first

    stored = annotations_of(live_server, sample["id"], "bob")
    assert stored[first]["note"] == SCRIPT_NOTE
    assert stored[first]["category"] == "incorrect_gt"
    assert page.text_content("#review-current-note .note-body") == SCRIPT_NOTE
    assert page.locator("#review-current-note script").count() == 0
    assert page.locator("main script").count() == 0
    assert "&lt;script&gt;" in page.inner_html("#review-current-note")
    assert page.input_value("#review-note") == SCRIPT_NOTE
    assert watch.dialogs == []
    assert watch.console_errors == []


def test_review_shows_earlier_choice(
    page: Any, live_server: LiveServer, form_job: dict
) -> None:
    sample = draw_sample(live_server, form_job["id"], "carol", seed=12)
    items = sorted(sample["items"], key=lambda item: item["position"])
    response = live_server.api(
        "POST",
        "/v1/annotations",
        annotator="carol",
        json={
            "job": form_job["id"],
            "image": items[0]["image"],
            "category": "challenging_image",
            "note": "blurred",
        },
    )
    assert response.status_code == 201, response.text

    # The review opens on the first item carol has not annotated.
    shown = open_review(page, live_server, sample["id"], "key-carol")
    assert shown == items[1]["image"]
    assert page.text_content("#review-position") == "failure 2 of 6"

    page.keyboard.press("ArrowLeft")
    assert wait_for_item(page, previous=shown) == items[0]["image"]
    chosen = page.locator("button.category[aria-pressed='true']")
    assert chosen.count() == 1
    assert chosen.get_attribute("data-category") == "challenging_image"
    assert page.input_value("#review-note") == "blurred"
    assert "Challenging images" in page.text_content("#review-saved")

    page.keyboard.press("ArrowRight")
    assert wait_for_item(page, previous=items[0]["image"]) == items[1]["image"]
    assert page.locator("button.category[aria-pressed='true']").count() == 0


def test_review_without_key_refuses(
    page: Any, watch: PageWatch, live_server: LiveServer, form_job: dict
) -> None:
    sample = draw_sample(live_server, form_job["id"], "alice", seed=13)
    page.goto(f"{live_server.url}/ui/samples/{sample['id']}/review")
    first = wait_for_item(page)
    assert page.text_content("#key-status") == "no key: read only"

    page.keyboard.press("2")
    page.wait_for_selector("#review-saved.error-text")
    assert "needs an API key" in page.text_content("#review-saved")
    assert page.is_visible("#message.message-error")
    assert "needs an API key" in page.text_content("#message")
    assert current_image(page) == first
    response = live_server.api("GET", f"/v1/annotations?sample={sample['id']}")
    assert response.json()["total"] == 0
    assert watch.console_errors == []


def test_review_with_wrong_key_shows_rejection(
    page: Any, live_server: LiveServer, form_job: dict
) -> None:
    sample = draw_sample(live_server, form_job["id"], "alice", seed=14)
    first = open_review(page, live_server, sample["id"], "key-nobody")

    page.keyboard.press("3")
    page.wait_for_selector("#review-saved.error-text")
    assert "API key was rejected" in page.text_content("#review-saved")
    assert current_image(page) == first
    response = live_server.api("GET", f"/v1/annotations?sample={sample['id']}")
    assert response.json()["total"] == 0
