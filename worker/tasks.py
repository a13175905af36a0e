"""Celery tasks. Each one is thin: it decodes its arguments and calls services."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from celery import Task, signals
from celery.utils.log import get_task_logger
from sqlalchemy.exc import OperationalError as DatabaseOperationalError

from services import jobs
from services.errors import FailcatError, MissingImageError
from services.imaging import decode_image
from services.logging_setup import configure_logging
from services.predictions import prediction_response
from worker import runtime
from worker.celery_app import (
    ANALYSE_JOB_TASK,
    PREDICT_TASK,
    RUN_CHUNK_TASK,
    WORKER_STATUS_TASK,
    app,
)

logger = get_task_logger(__name__)


@signals.setup_logging.connect
def _configure_logging(**_: Any) -> None:
    configure_logging(runtime.settings().log_level)


@signals.celeryd_init.connect
def _remember_nodename(sender: str | None = None, **_: Any) -> None:
    runtime.set_nodename(sender or "unknown")


@signals.worker_process_init.connect
def _load_models(**_: Any) -> None:
    runtime.load_ensemble()


@signals.worker_shutdown.connect
def _clear_status(**_: Any) -> None:
    runtime.clear_status()


def error_result(exc: FailcatError) -> dict[str, Any]:
    """Return a domain error in a form that crosses the result backend as JSON."""
    return {
        "error": {"status": exc.status, "message": exc.message, "errors": exc.errors}
    }


@app.task(name=PREDICT_TASK, soft_time_limit=60, time_limit=90)
def predict(image_b64: str, top_k: int = 5) -> dict[str, Any]:
    """Predict one uploaded image, sent base64-encoded inside the message."""
    settings = runtime.settings()
    try:
        try:
            data = base64.b64decode(image_b64, validate=True)
        except (binascii.Error, ValueError):
            raise MissingImageError("the image was not valid base64") from None
        image = decode_image(data, settings.max_pixels)
        ensemble = runtime.get_ensemble()
        output = ensemble.predict_images([image])
    except FailcatError as exc:
        logger.warning("prediction rejected: %s", exc.message)
        return error_result(exc)
    return prediction_response(
        output.probabilities[0],
        {name: probs[0] for name, probs in output.member_probabilities.items()},
        top_k,
        ensemble.ensemble_id,
        ensemble.execution_provider,
    )


@app.task(name=WORKER_STATUS_TASK, soft_time_limit=30)
def worker_status() -> dict[str, Any]:
    """Return this pool process's ensemble status, loading the models if needed."""
    try:
        runtime.get_ensemble()
    except FailcatError:
        pass
    return runtime.worker_status()


class ChunkTask(Task):
    """A chunk task that fails its job once it gives up, so no job waits forever."""

    def on_failure(self, exc, task_id, args, kwargs, einfo):  # type: ignore[no-untyped-def]
        job_id, chunk = args[0], args[1]
        reason = f"chunk {chunk} failed: {type(exc).__name__}: {exc}"
        try:
            jobs.fail_job(runtime.repository(), job_id, reason)
        except Exception:  # the database may be what failed
            logger.exception("could not mark job %s failed", job_id)


@app.task(
    bind=True,
    base=ChunkTask,
    name=RUN_CHUNK_TASK,
    autoretry_for=(DatabaseOperationalError,),
    retry_backoff=2,
    retry_backoff_max=60,
    max_retries=5,
    soft_time_limit=900,
    time_limit=1200,
)
def run_chunk(
    self: Task, job_id: int, chunk: int, image_ids: list[str]
) -> dict[str, Any]:
    """Predict one chunk of a job; safe to run again after a crash or redelivery."""
    repository = runtime.repository()
    try:
        ensemble = runtime.get_ensemble()
    except FailcatError as exc:
        jobs.fail_job(repository, job_id, exc.message)
        return {"ran": False, "reason": exc.message}
    outcome = jobs.run_chunk(
        repository, ensemble, runtime.settings(), job_id, chunk, image_ids
    )
    if outcome.job_finished:
        logger.info("job %d finished with chunk %d", job_id, chunk)
        if repository.get_job(job_id).state == "done":
            app.send_task(ANALYSE_JOB_TASK, args=[job_id])
    return outcome.__dict__


from worker import analysis_tasks  # noqa: E402, F401
