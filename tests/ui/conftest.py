"""Fixtures for the browser tests: the app on a real HTTP port and headless Chromium.

The server runs the app from ``create_app`` in a thread of the test process,
on a free loopback port, against the session's Celery worker. Chromium is the
system's ``/usr/bin/chromium`` driven by Playwright; no browser is downloaded.
Without Playwright or Chromium the tests skip, except under ``CI``, where they
fail so that a green run always means the pages were tested.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from werkzeug.serving import WSGIRequestHandler, make_server

from services.config import Settings
from tests.support import REPO_ROOT, WorkerProcess, auth

CHROMIUM_PATH = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS_DIR = REPO_ROOT / "test-artifacts"
# The job the pages start: the whole validation range over the sparse test folder.
JOB_RANGE = (1, 50000)
JOB_TIMEOUT_S = 600
# How long a done job may stay with its analysis pending before tests go on.
ANALYSIS_START_S = 20
EXAMPLES_PATH = "/v1/reports/examples.png"
# Playwright waits, in milliseconds.
UI_TIMEOUT_MS = 20_000

pytestmark = pytest.mark.browser


def _missing_browser(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI is set, so the browser tests must run")
    pytest.skip(reason)


@dataclass
class LiveServer:
    """The app served over HTTP on a loopback port."""

    url: str
    settings: Settings

    def api(self, method: str, path: str, annotator: str | None = None, **kwargs: Any):
        """Send a request to the service, with an annotator's key when given."""
        headers = dict(kwargs.pop("headers", {}))
        if annotator:
            headers.update(auth(annotator))
        return requests.request(
            method, self.url + path, headers=headers, timeout=60, **kwargs
        )


class QuietRequestHandler(WSGIRequestHandler):
    """A request handler that logs errors but not every request."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return


@dataclass
class PageWatch:
    """Console errors and dialogs seen by one browser page."""

    console_errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)


@pytest.fixture(scope="session")
def live_server(
    test_data_dir: Path, service_settings: Settings, worker: WorkerProcess
) -> Iterator[LiveServer]:
    """Serve the app on 127.0.0.1 at a free port for the whole session."""
    from api import create_app

    app = create_app(settings=service_settings)
    server = make_server(
        "127.0.0.1", 0, app, threaded=True, request_handler=QuietRequestHandler
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield LiveServer(f"http://127.0.0.1:{server.server_port}", service_settings)
    finally:
        server.shutdown()
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def browser_context(test_data_dir: Path) -> Iterator[Any]:
    """Start headless Chromium with an empty profile for the session."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing_browser(
            "Playwright for Python is not installed (pip install playwright)"
        )
    executable = (
        CHROMIUM_PATH if os.path.exists(CHROMIUM_PATH) else shutil.which("chromium")
    )
    if not executable:
        _missing_browser(f"Chromium is not installed at {CHROMIUM_PATH}")

    profile = tempfile.mkdtemp(prefix="failcat-chromium-")
    playwright = sync_playwright().start()
    try:
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=executable,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 800},
        )
        context.set_default_timeout(UI_TIMEOUT_MS)
        yield context
        context.close()
    finally:
        playwright.stop()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def watch() -> PageWatch:
    return PageWatch()


@pytest.fixture
def page(browser_context: Any, watch: PageWatch) -> Iterator[Any]:
    """Open a new tab, so its sessionStorage starts without an API key."""
    tab = browser_context.new_page()

    def on_console(message: Any) -> None:
        url = message.location.get("url", "")
        # NOTE: the stats page requests the example sheet, which returns 409 until
        # a job's analysis is done, and the page then shows that no sheet exists.
        if message.type == "error" and EXAMPLES_PATH not in url:
            watch.console_errors.append(f"{message.text} ({url})")

    tab.on("console", on_console)
    tab.on("pageerror", lambda error: watch.console_errors.append(str(error)))

    def on_dialog(dialog: Any) -> None:
        watch.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    tab.on("dialog", on_dialog)
    yield tab
    tab.close()


def enter_key(page: Any, key: str = "key-alice") -> None:
    """Type an API key into the header form, as a person would."""
    page.fill("#key-input", key)
    page.click("#key-save")
    page.wait_for_selector("#key-status.key-set")


def screenshot(page: Any, name: str) -> Path:
    """Save a full-page screenshot under test-artifacts/ at the repository root."""
    ARTIFACTS_DIR.mkdir(exist_ok=True)
    path = ARTIFACTS_DIR / name
    page.screenshot(path=str(path), full_page=True)
    return path


def _wait_for_analysis(live_server: LiveServer, job_id: int) -> dict[str, Any]:
    """Wait for the suggestions of a done job, if its analysis starts at all."""
    started = time.monotonic()
    while True:
        job = live_server.api("GET", f"/v1/jobs/{job_id}").json()
        waited = time.monotonic() - started
        if job.get("analysis_state") in (None, "done"):
            return job
        # NOTE: a job whose analysis never leaves pending is reviewed without
        # suggestions, so the tests then skip their checks of suggestions.
        if job["analysis_state"] == "pending" and waited > ANALYSIS_START_S:
            return job
        if waited > JOB_TIMEOUT_S:
            raise AssertionError(f"analysis of job {job_id} did not finish: {job}")
        time.sleep(1)


@pytest.fixture(scope="session")
def form_job(live_server: LiveServer, browser_context: Any) -> dict[str, Any]:
    """Start a job over the validation range through the jobs page, and finish it.

    Returns the job as GET /v1/jobs/<id> shows it once it is done.
    """
    tab = browser_context.new_page()
    try:
        tab.goto(f"{live_server.url}/ui/")
        enter_key(tab)
        tab.fill("#job-start", str(JOB_RANGE[0]))
        tab.fill("#job-stop", str(JOB_RANGE[1]))
        tab.select_option("#job-criterion", "top1")
        tab.click("#job-submit")
        link = tab.wait_for_selector("#job-form-result a")
        job_id = int(link.text_content().removeprefix("job #"))
        row = f"#jobs-body tr[data-job-id='{job_id}']"
        tab.wait_for_selector(row)

        deadline = time.monotonic() + JOB_TIMEOUT_S
        job = live_server.api("GET", f"/v1/jobs/{job_id}").json()
        while job["state"] in ("queued", "running") and time.monotonic() < deadline:
            time.sleep(1)
            job = live_server.api("GET", f"/v1/jobs/{job_id}").json()
        assert job["state"] == "done", job
        job = _wait_for_analysis(live_server, job_id)
        # The page polls on its own; the row turns done without a reload.
        tab.wait_for_selector(f"{row}[data-state='done']", timeout=30_000)
        return job
    finally:
        tab.close()
