"""Celery tasks that suggest a failure category for every failure of a job.

``failcat.analyse_job`` splits a finished job's failures into chunks and sends
one ``failcat.analyse_chunk`` task per chunk on the analysis queue. Both are
thin: they call ``services.analysis``, whose writes are idempotent, so a
redelivered task changes nothing.
"""

from __future__ import annotations

from typing import Any

from celery.utils.log import get_task_logger
from sqlalchemy.exc import OperationalError as DatabaseOperationalError

from services import analysis, wordnet
from services.storage.suggestion_repository import SuggestionRepository
from worker import runtime
from worker.celery_app import ANALYSE_CHUNK_TASK, ANALYSE_JOB_TASK, app

logger = get_task_logger(__name__)

_suggestion_repository: SuggestionRepository | None = None


def suggestion_repository() -> SuggestionRepository:
    """Return this process's suggestion repository, on the repository's engine."""
    global _suggestion_repository
    if _suggestion_repository is None:
        _suggestion_repository = SuggestionRepository(runtime.repository().engine)
    return _suggestion_repository


@app.task(
    name=ANALYSE_JOB_TASK,
    autoretry_for=(DatabaseOperationalError,),
    retry_backoff=2,
    retry_backoff_max=60,
    max_retries=5,
    soft_time_limit=300,
    time_limit=360,
)
def analyse_job(job_id: int) -> dict[str, Any]:
    """Start the analysis of a job: one analyse_chunk task per 64 failures."""
    chunks = analysis.start_analysis(
        runtime.repository(), suggestion_repository(), job_id
    )
    for image_ids in chunks:
        app.send_task(ANALYSE_CHUNK_TASK, args=[job_id, image_ids])
    return {"job_id": job_id, "chunks": len(chunks)}


@app.task(
    name=ANALYSE_CHUNK_TASK,
    autoretry_for=(DatabaseOperationalError,),
    retry_backoff=2,
    retry_backoff_max=60,
    max_retries=5,
    soft_time_limit=600,
    time_limit=900,
)
def analyse_chunk(job_id: int, image_ids: list[str]) -> dict[str, Any]:
    """Suggest and store categories for one chunk of a job's failures."""
    # WordNet is parsed once per process, on the first chunk, and kept.
    wordnet.load_wordnet()
    outcome = analysis.analyse_chunk(
        runtime.repository(),
        suggestion_repository(),
        runtime.settings(),
        job_id,
        image_ids,
    )
    if outcome.analysis_done:
        logger.info("job %d: analysis done", job_id)
    return {"job_id": job_id, **outcome.__dict__}
