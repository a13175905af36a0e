"""Helpers shared by the benchmarks: locating data and running ``failcat up``."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

REPO_ROOT = Path(__file__).resolve().parent.parent


def test_data() -> Path:
    """Return the folder of real ImageNet images named by FAILCAT_TEST_DATA."""
    raw = os.environ.get("FAILCAT_TEST_DATA")
    if not raw or not Path(raw).is_dir():
        sys.exit(
            "set FAILCAT_TEST_DATA to the folder that holds imagenet-val/ and "
            "imagenet-samples/"
        )
    return Path(raw)


def model_dir() -> Path:
    """Return an exported model folder, exporting into .failcat/models when needed."""
    from models.export import export_ensemble

    folder = Path(
        os.environ.get("FAILCAT_MODEL_DIR") or REPO_ROOT / ".failcat" / "models"
    )
    export_ensemble(folder, report=lambda _line: None)
    return folder


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RunningService:
    """``failcat up`` in a temporary home, started and stopped by the benchmark."""

    def __init__(self, models: Path, extra_env: dict[str, str] | None = None) -> None:
        self.home = Path(tempfile.mkdtemp(prefix="failcat-bench-"))
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("FAILCAT_")}
        env.update(
            FAILCAT_HOME=str(self.home / ".failcat"),
            FAILCAT_MODEL_DIR=str(models),
            FAILCAT_API_KEYS="bench=bench-key",
            PYTHONPATH=str(REPO_ROOT),
            **(extra_env or {}),
        )
        self.log = (self.home / "up.log").open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "up", "--port", str(self.port)],
            cwd=self.home,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                sys.exit(f"failcat up exited; see {self.home / 'up.log'}")
            if b"failcat is ready" in (self.home / "up.log").read_bytes():
                return
            time.sleep(0.5)
        self.stop()
        sys.exit("failcat up did not become ready in 180 s")

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": "Bearer bench-key"}

    def get(self, path: str) -> dict:
        return requests.get(self.base + path, timeout=60).json()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=90)
        self.log.close()
