"""Validation jobs, their failures, and the images behind them."""

from __future__ import annotations

import mimetypes

from flask import current_app, send_file, url_for
from flask.views import MethodView
from flask_smorest import Blueprint

from api.schemas import FailureQuerySchema, JobCreateSchema, PageQuerySchema
from services import datasets, jobs
from services.errors import UnavailableError
from services.storage.suggestion_repository import SuggestionRepository
from worker.celery_app import DEFAULT_PRIORITY, RUN_CHUNK_TASK

blp = Blueprint("jobs", __name__, url_prefix="/v1", description="Validation jobs")


def repository():  # type: ignore[no-untyped-def]
    return current_app.extensions["failcat_repository"]


def dispatch_chunks(plan: jobs.JobPlan) -> None:
    """Send one task per chunk; a job whose chunks cannot be sent fails at once."""
    celery = current_app.extensions["failcat_celery"]
    try:
        for index, image_ids in enumerate(plan.chunks):
            celery.send_task(
                RUN_CHUNK_TASK,
                args=[plan.job.id, index, image_ids],
                priority=DEFAULT_PRIORITY,
                retry=False,
            )
    except Exception as exc:  # kombu and redis raise several connection errors
        reason = f"the chunk tasks could not be queued: {exc}"
        jobs.fail_job(repository(), plan.job.id, reason)
        raise UnavailableError(
            f"Redis is unreachable; job {plan.job.id} failed"
        ) from exc


@blp.route("/jobs")
class Jobs(MethodView):
    @blp.arguments(JobCreateSchema)
    @blp.response(202)
    def post(self, body: dict):  # type: ignore[no-untyped-def]
        """Start a job over a validation range or a folder

        Requires an API key. The job runs in chunks on the workers; poll the
        URL in the Location header for progress.
        """
        settings = current_app.config["FAILCAT_SETTINGS"]
        # A job whose chunks cannot be queued would only be created to fail.
        current_app.extensions["failcat_workers"].require_broker()
        plan = jobs.plan_job(repository(), settings, **body)

        dispatch_chunks(plan)

        view = jobs.job_view(repository(), repository().get_job(plan.job.id))
        location = url_for("jobs.Job", job_id=plan.job.id)
        return view, 202, {"Location": location}

    @blp.arguments(PageQuerySchema, location="query")
    @blp.response(200)
    def get(self, query: dict):  # type: ignore[no-untyped-def]
        """List jobs, newest first"""
        page = repository().list_jobs(query["page"], query["per_page"])
        return {
            "items": [jobs.job_view(repository(), job) for job in page.items],
            "page": page.page,
            "per_page": page.per_page,
            "total": page.total,
        }


@blp.route("/jobs/<int:job_id>")
class Job(MethodView):
    @blp.response(200)
    def get(self, job_id: int):  # type: ignore[no-untyped-def]
        """Show a job's state, counts, speed and metrics"""
        job = jobs.require_job(repository(), job_id)
        return jobs.job_view(repository(), job)

    @blp.response(200)
    def delete(self, job_id: int):  # type: ignore[no-untyped-def]
        """Cancel a job; chunks not yet started are skipped"""
        jobs.require_job(repository(), job_id)
        return jobs.job_view(repository(), jobs.cancel_job(repository(), job_id))


@blp.route("/jobs/<int:job_id>/failures")
class Failures(MethodView):
    @blp.arguments(FailureQuerySchema, location="query")
    @blp.response(200)
    def get(self, query: dict, job_id: int):  # type: ignore[no-untyped-def]
        """List a job's failures under its criterion, by image id"""
        job = jobs.require_job(repository(), job_id)
        suggestion_repository = SuggestionRepository(repository().engine)
        suggested = query.get("suggested")
        if suggested is None:
            page = repository().list_failures(
                job_id,
                criterion=job.criterion,
                page=query["page"],
                per_page=query["per_page"],
                ground_truth=query.get("ground_truth"),
                predicted_class=query.get("predicted_class"),
            )
        else:
            page = suggestion_repository.list_failures_suggested(
                job_id,
                suggested,
                page=query["page"],
                per_page=query["per_page"],
                ground_truth=query.get("ground_truth"),
                predicted_class=query.get("predicted_class"),
            )
        suggestions = suggestion_repository.suggestions_by_image_id(
            job_id, [failure.image_id for failure in page.items]
        )
        return {
            "items": [
                jobs.failure_view(f, suggestions.get(f.image_id)) for f in page.items
            ],
            "page": page.page,
            "per_page": page.per_page,
            "total": page.total,
            "criterion": job.criterion,
        }


@blp.route("/jobs/<int:job_id>/errors")
class ImageErrors(MethodView):
    @blp.arguments(PageQuerySchema, location="query")
    @blp.response(200)
    def get(self, query: dict, job_id: int):  # type: ignore[no-untyped-def]
        """List the images of a job that could not be predicted, with the reason"""
        jobs.require_job(repository(), job_id)
        page = repository().list_image_errors(job_id, query["page"], query["per_page"])
        return {
            "items": [
                {"image": image, "reason": reason} for image, reason in page.items
            ],
            "page": page.page,
            "per_page": page.per_page,
            "total": page.total,
        }


@blp.route("/images/<path:image_id>")
class ImageFile(MethodView):
    def get(self, image_id: str):  # type: ignore[no-untyped-def]
        """Return the bytes of a dataset image"""
        ref = datasets.ref_for_image_id(
            current_app.config["FAILCAT_SETTINGS"], image_id
        )
        mimetype = mimetypes.guess_type(ref.path.name)[0] or "application/octet-stream"
        return send_file(ref.path, mimetype=mimetype, max_age=3600)
