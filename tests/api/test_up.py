"""``failcat up`` end to end: embedded Redis, a worker, the API, clean shutdown."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import requests

from tests.support import REPO_ROOT

TENCH = "n01440764_tench.JPEG"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def running_up(tmp_path_factory, model_dir: Path):
    home = tmp_path_factory.mktemp("up")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAILCAT_")} | {
        "FAILCAT_HOME": str(home / ".failcat"),
        "FAILCAT_MODEL_DIR": str(model_dir),
        "FAILCAT_MAX_UPLOAD_BYTES": str(2 * 1024 * 1024),
        "PYTHONPATH": str(REPO_ROOT),
    }
    log = (home / "up.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "up", "--port", str(port)],
        cwd=home,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"failcat up exited: {(home / 'up.log').read_text()[-3000:]}")
        if "failcat is ready" in (home / "up.log").read_text():
            break
        time.sleep(0.5)
    else:
        _stop_tree(process)
        pytest.fail("failcat up did not become ready in 180 s")
    yield process, base, home
    _stop_tree(process)
    log.close()


def _stop_tree(process: subprocess.Popen) -> None:
    """Stop ``failcat up`` and anything it left, even after a failed test."""
    if process.poll() is not None:
        return
    descendants = psutil.Process(process.pid).children(recursive=True)
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
    for child in descendants:
        if child.is_running():
            child.kill()


def test_up_prints_key(running_up):
    _, _, home = running_up
    output = (home / "up.log").read_text()
    key = (home / ".failcat" / "api-key").read_text().strip()
    assert key in output
    assert oct((home / ".failcat" / "api-key").stat().st_mode & 0o777) == "0o600"


def test_up_predicts_tench(running_up, test_data_dir):
    _, base, _ = running_up
    with (test_data_dir / "imagenet-samples" / TENCH).open("rb") as handle:
        response = requests.post(
            f"{base}/v1/predictions", files={"image": handle}, timeout=60
        )
    assert response.status_code == 200
    body = response.json()
    assert body["predictions"][0]["name"] == "tench"
    assert len(body["members"]) == 3
    assert body["execution_provider"] == "CPUExecutionProvider"


def test_up_rejects_oversized_raw_body(running_up):
    _, base, _ = running_up
    payload = b"\xff\xd8" + b"\0" * (3 * 1024 * 1024)
    response = requests.post(
        f"{base}/v1/predictions",
        data=payload,
        headers={"Content-Type": "image/jpeg"},
        timeout=60,
    )
    assert response.status_code == 413
    assert "image" in response.json()["errors"]


def test_up_rejects_oversized_chunked_upload(running_up):
    _, base, _ = running_up

    def chunks():
        for _ in range(48):
            yield b"\0" * 65536

    try:
        response = requests.post(
            f"{base}/v1/predictions",
            data=chunks(),
            headers={"Content-Type": "image/jpeg"},
            timeout=60,
        )
    except requests.ConnectionError:
        pytest.fail("the server closed the connection without a 413")
    assert response.status_code == 413


def test_up_rejects_oversized_multipart(running_up):
    _, base, _ = running_up
    files = {"image": ("big.jpg", b"\xff\xd8" + b"\0" * (3 * 1024 * 1024))}
    response = requests.post(f"{base}/v1/predictions", files=files, timeout=60)
    assert response.status_code == 413
    assert "image" in response.json()["errors"]


def test_up_write_needs_key(running_up):
    _, base, _ = running_up
    response = requests.post(f"{base}/v1/jobs", json={}, timeout=10)
    assert response.status_code == 401


def test_up_restarts_killed_worker(running_up, test_data_dir):
    process, base, home = running_up
    workers = [
        child
        for child in psutil.Process(process.pid).children()
        if "celery" in " ".join(child.cmdline())
    ]
    assert len(workers) == 1
    workers[0].kill()
    deadline = time.monotonic() + 120
    ready = False
    while time.monotonic() < deadline and not ready:
        time.sleep(1)
        try:
            ready = requests.get(f"{base}/readyz", timeout=5).status_code == 200
        except requests.ConnectionError:
            ready = False
    assert process.poll() is None
    assert "restarting it" in (home / "up.log").read_text()
    assert ready
    with (test_data_dir / "imagenet-samples" / TENCH).open("rb") as handle:
        response = requests.post(
            f"{base}/v1/predictions", files={"image": handle}, timeout=60
        )
    assert response.status_code == 200


def test_up_stops_everything_on_sigterm(running_up):
    process, base, _ = running_up
    descendants = psutil.Process(process.pid).children(recursive=True)
    assert len(descendants) >= 3
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0
    gone, alive = psutil.wait_procs(descendants, timeout=10)
    assert alive == []
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{base}/healthz", timeout=2)
