"""Send tasks to the workers by name and wait for their results.

The API never imports worker code: it sends task names through the Celery
application that ``worker.celery_app`` configures.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import redis
from celery import Celery
from celery.exceptions import TimeoutError as CeleryTimeoutError
from kombu.exceptions import OperationalError

from services.errors import FailcatError, UnavailableError
from worker.celery_app import (
    DEFAULT_PRIORITY,
    PREDICT_PRIORITY,
    PREDICT_TASK,
    redis_client,
    redis_url,
    status_key,
)

logger = logging.getLogger(__name__)

# How long a successful worker ping is trusted, in seconds.
PING_CACHE_S = 5.0


class WorkerClient:
    """Talk to the workers through Celery and read their status from Redis."""

    def __init__(self, celery: Celery, timeout_s: float) -> None:
        self.celery = celery
        self.timeout_s = timeout_s
        self._last_seen = 0.0
        self._redis = redis_client(redis_url(celery.conf.failcat_settings))

    def ping(self, timeout_s: float = 1.0) -> list[str]:
        """Return the names of the worker nodes that reply to a ping."""
        try:
            replies = self.celery.control.ping(timeout=timeout_s) or []
        except (OperationalError, redis.RedisError, OSError) as exc:
            raise UnavailableError(f"Redis is unreachable: {exc}") from None
        nodes = sorted(name for reply in replies for name in reply)
        if nodes:
            self._last_seen = time.monotonic()
        return nodes

    def require_broker(self) -> None:
        """Raise UnavailableError at once when Redis does not reply to a ping."""
        try:
            self._redis.ping()
        except (redis.RedisError, OSError) as exc:
            raise UnavailableError(f"Redis is unreachable: {exc}") from None

    def require_worker(self) -> None:
        """Raise UnavailableError at once when no worker is running."""
        if time.monotonic() - self._last_seen < PING_CACHE_S:
            return
        if not self.ping(timeout_s=min(1.0, self.timeout_s)):
            raise UnavailableError(
                "no worker is running; start one with `failcat worker` or `failcat up`"
            )

    def worker_statuses(self, nodes: list[str]) -> list[dict[str, Any]]:
        """Return what each node's pool processes published about their models."""
        statuses = []
        try:
            for node in nodes:
                raw = self._redis.get(status_key(node))
                statuses.append(
                    json.loads(raw) if raw else {"node": node, "loaded": False}
                )
        except redis.RedisError as exc:
            raise UnavailableError(f"Redis is unreachable: {exc}") from None
        return statuses

    def call(self, name: str, args: list[Any], priority: int = DEFAULT_PRIORITY) -> Any:
        """Send task ``name`` and wait for its result up to the timeout."""
        self.require_worker()
        try:
            result = self.celery.send_task(
                name,
                args=args,
                priority=priority,
                expires=self.timeout_s,
                retry=False,
            )
        except (OperationalError, redis.RedisError, OSError) as exc:
            raise UnavailableError(f"Redis is unreachable: {exc}") from None
        try:
            value = result.get(timeout=self.timeout_s, propagate=True)
        except CeleryTimeoutError:
            result.revoke()
            raise UnavailableError(
                f"no worker returned a result within {self.timeout_s:g} s "
                "(FAILCAT_PREDICT_TIMEOUT_S); try again when the workers are less busy"
            ) from None
        except (OperationalError, redis.RedisError, OSError) as exc:
            raise UnavailableError(f"Redis is unreachable: {exc}") from None
        finally:
            result.forget()
        if isinstance(value, dict) and "error" in value:
            error = value["error"]
            raise _remote_error(error["status"], error["message"], error.get("errors"))
        return value

    def predict(self, image_b64: str, top_k: int) -> dict[str, Any]:
        """Return the ensemble's prediction for one base64-encoded image."""
        return self.call(PREDICT_TASK, [image_b64, top_k], priority=PREDICT_PRIORITY)


def _remote_error(status: int, message: str, errors: dict | None) -> FailcatError:
    error = FailcatError(message, errors)
    error.status = status
    return error
