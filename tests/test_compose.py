"""docker-compose.yml: the services, their commands, the GPU and the volumes.

Docker does not run on the test machines, so the file is parsed and checked.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

COMPOSE = Path(__file__).resolve().parent.parent / "docker-compose.yml"


@pytest.fixture(scope="module")
def services() -> dict:
    return yaml.safe_load(COMPOSE.read_text())["services"]


def test_services_present(services):
    assert {"redis", "api", "worker"} <= set(services)


def test_api_command(services):
    assert services["api"]["command"][:2] == ["failcat", "api"]


def test_worker_consumes_both_queues(services):
    command = services["worker"]["command"]
    assert command[:2] == ["failcat", "worker"]
    queues = command[command.index("--queues") + 1].split(",")
    assert set(queues) == {"inference", "analysis"}


def test_worker_built_with_gpu_extra(services):
    assert services["worker"]["build"]["args"]["ONNX_RUNTIME"] == "gpu"


def test_api_not_built_with_gpu_extra(services):
    assert services["api"]["build"]["args"]["ONNX_RUNTIME"] == "cpu"


def test_worker_reserves_nvidia_gpu(services):
    devices = services["worker"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia"
    assert "gpu" in devices[0]["capabilities"]


def test_worker_asks_for_cuda(services):
    providers = services["worker"]["environment"]["FAILCAT_EXECUTION_PROVIDERS"]
    assert providers.split(",")[0] == "cuda"


def test_api_and_worker_share_volumes(services):
    api = {v.split(":")[1] for v in services["api"]["volumes"]}
    worker = {v.split(":")[1] for v in services["worker"]["volumes"]}
    assert "/data" in api
    assert api == worker


def test_api_and_worker_share_redis(services):
    api_url = services["api"]["environment"]["FAILCAT_REDIS_URL"]
    worker_url = services["worker"]["environment"]["FAILCAT_REDIS_URL"]
    assert api_url == worker_url
    assert api_url.startswith("redis://redis:")


def test_dockerfile_installs_one_runtime():
    dockerfile = (COMPOSE.parent / "Dockerfile").read_text()
    assert '".[${ONNX_RUNTIME}]"' in dockerfile
