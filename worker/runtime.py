"""Per-process worker state: the settings and the loaded ensemble.

The ensemble is created in each pool process after the fork, because ONNX
Runtime sessions must not cross a fork. Each process records what it loaded in
Redis so that the API can report readiness without loading a model itself.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from typing import Any

import redis

from services.config import Settings, load_settings
from services.ensemble import Ensemble
from services.errors import FailcatError, UnavailableError
from worker.celery_app import redis_client, redis_url, status_key

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_ensemble: Ensemble | None = None
_load_error: str | None = None
_settings: Settings | None = None
_nodename: str = "unknown"


def settings() -> Settings:
    """Return this process's settings, read once."""
    global _settings
    if _settings is None:
        _settings = load_settings()
    return _settings


def set_nodename(nodename: str) -> None:
    """Remember the Celery node name, inherited by the pool processes."""
    global _nodename
    _nodename = nodename


def _publish_status(status: dict[str, Any]) -> None:
    try:
        client = redis_client(redis_url(settings()))
        client.set(status_key(_nodename), json.dumps(status))
    except redis.RedisError:
        logger.warning(
            "could not publish worker status for %s", _nodename, exc_info=True
        )


def load_ensemble() -> None:
    """Load the ensemble in this process and publish the outcome."""
    global _ensemble, _load_error
    with _lock:
        if _ensemble is not None:
            return
        current = settings()
        try:
            _ensemble = Ensemble.load(
                current.model_dir,
                current.execution_providers,
                current.intra_op_threads,
            )
            _ensemble.warm_up(current.batch_size)
            _load_error = None
        except FailcatError as exc:
            _load_error = exc.message
            logger.error("ensemble not loaded: %s", exc.message)
        except Exception as exc:  # an unreadable model file, a broken build
            _load_error = f"{type(exc).__name__}: {exc}"
            logger.exception("ensemble not loaded")
    _publish_status(worker_status())


def get_ensemble() -> Ensemble:
    """Return the loaded ensemble, loading it on first use."""
    if _ensemble is None:
        load_ensemble()
    if _ensemble is None:
        raise UnavailableError(f"the worker could not load the ensemble: {_load_error}")
    return _ensemble


def worker_status() -> dict[str, Any]:
    """Describe this process: whether every member is loaded and on what."""
    status: dict[str, Any] = {"node": _nodename, "pid": os.getpid()}
    if _ensemble is None:
        status.update(loaded=False, error=_load_error)
    else:
        status.update(loaded=True, error=None, **_ensemble.describe())
    return status


def clear_status() -> None:
    """Remove this node's status when the worker stops."""
    try:
        redis_client(redis_url(settings())).delete(status_key(_nodename))
    except redis.RedisError:
        logger.warning("could not clear worker status for %s", _nodename)


_repository: Any = None


def repository() -> Any:
    """Return this process's repository on the configured database."""
    global _repository
    if _repository is None:
        from services.storage.engine import make_engine
        from services.storage.repositories import Repository

        _repository = Repository(make_engine(settings().effective_database_url))
    return _repository
