"""The Celery application: broker, serialization, queues and delivery guarantees.

This module contains configuration only. The API sends tasks by name through the
same application object, so it never imports the tasks or ONNX Runtime.
"""

from __future__ import annotations

import redis
from celery import Celery
from kombu import Exchange, Queue

from services.config import Settings, load_settings

INFERENCE_QUEUE = "inference"
ANALYSIS_QUEUE = "analysis"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"

# Task names, shared by the API (which sends them) and the worker (which runs them).
PREDICT_TASK = "failcat.predict"
WORKER_STATUS_TASK = "failcat.worker_status"
RUN_CHUNK_TASK = "failcat.run_chunk"
START_JOB_TASK = "failcat.start_job"
ANALYSE_JOB_TASK = "failcat.analyse_job"
ANALYSE_CHUNK_TASK = "failcat.analyse_chunk"

PREDICT_PRIORITY = 0
DEFAULT_PRIORITY = 5

# Each worker node publishes its pool's model status under this prefix.
STATUS_KEY_PREFIX = "failcat:worker:"


def redis_url(settings: Settings) -> str:
    """Return the Redis URL the broker and result backend use."""
    return settings.redis_url or DEFAULT_REDIS_URL


def status_key(nodename: str) -> str:
    """Return the Redis key of a worker node's model status."""
    return f"{STATUS_KEY_PREFIX}{nodename}"


def redis_client(url: str) -> redis.Redis:
    """Return a redis-py client for a broker URL, unix sockets included."""
    if url.startswith("redis+socket://"):
        url = "unix://" + url[len("redis+socket://") :]
    return redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2)


def _route(queue: str) -> dict[str, str]:
    return {"queue": queue, "exchange": queue, "routing_key": queue}


def create_celery(settings: Settings | None = None) -> Celery:
    """Build the Celery application for ``settings`` (default: the environment)."""
    settings = settings or load_settings()
    url = redis_url(settings)
    app = Celery("failcat", broker=url, backend=url, include=[])
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_accept_content=["json"],
        result_expires=settings.result_expires_s,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_default_queue=INFERENCE_QUEUE,
        task_default_exchange=INFERENCE_QUEUE,
        task_default_routing_key=INFERENCE_QUEUE,
        task_queues=(
            Queue(
                INFERENCE_QUEUE, Exchange(INFERENCE_QUEUE), routing_key=INFERENCE_QUEUE
            ),
            Queue(ANALYSIS_QUEUE, Exchange(ANALYSIS_QUEUE), routing_key=ANALYSIS_QUEUE),
        ),
        task_routes={
            PREDICT_TASK: _route(INFERENCE_QUEUE),
            WORKER_STATUS_TASK: _route(INFERENCE_QUEUE),
            RUN_CHUNK_TASK: _route(INFERENCE_QUEUE),
            START_JOB_TASK: _route(INFERENCE_QUEUE),
            ANALYSE_JOB_TASK: _route(ANALYSIS_QUEUE),
            ANALYSE_CHUNK_TASK: _route(ANALYSIS_QUEUE),
        },
        # NOTE: on Redis, priority 0 is served first. Predictions are sent at
        # PREDICT_PRIORITY so that a user waits for one chunk at most, not for
        # every chunk a job has queued.
        # NOTE: send_task does not apply task_default_priority, so senders pass
        # DEFAULT_PRIORITY themselves.
        task_default_priority=DEFAULT_PRIORITY,
        broker_transport_options={
            "visibility_timeout": settings.visibility_timeout_s,
            "priority_steps": list(range(10)),
            "sep": ":",
        },
        result_backend_transport_options={
            "visibility_timeout": settings.visibility_timeout_s
        },
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        task_track_started=False,
    )
    app.conf.failcat_settings = settings
    return app


_app: Celery | None = None


def __getattr__(name: str) -> Celery:
    """Create the module's ``app`` on first use, so importing reads no settings."""
    global _app
    if name != "app":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if _app is None:
        _app = create_celery()
    return _app
