"""Review pages: server-rendered shells whose scripts call the JSON API.

Every page is a Jinja template plus scripts and styles served from this
blueprint's static folder, so the pages work offline and need no build step.
The scripts build the DOM with ``textContent``, and the Content-Security-Policy
on every response of the blueprint allows scripts from this origin only.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, current_app, render_template
from werkzeug.exceptions import NotFound

from services import jobs
from services.categories import CATEGORIES, PAPER_TOTAL
from services.errors import NotFoundError

logger = logging.getLogger(__name__)

bp = Blueprint(
    "ui",
    __name__,
    url_prefix="/ui",
    template_folder="templates",
    static_folder="static/ui",
    static_url_path="/static",
)

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        # Blob URLs preview the file chosen on the try page before it is sent.
        "img-src 'self' blob: data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)


def _category_context() -> list[dict[str, object]]:
    return [
        {
            "id": category.id,
            "key": category.key,
            "title": category.title,
            "definition": category.definition,
            "paper_count": category.paper_count,
            "paper_rate": category.paper_rate,
        }
        for category in CATEGORIES
    ]


@bp.after_request
def add_security_headers(response: Response) -> Response:
    """Restrict what the pages may load and keep them out of frames."""
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    return response


@bp.get("/")
def jobs_page() -> str:
    """Render the list of jobs and the form that starts one."""
    return render_template("ui/jobs.html", page="jobs")


@bp.get("/jobs/<int:job_id>")
def job_page(job_id: int) -> str:
    """Render one job's progress, its failures and the sample form."""
    try:
        jobs.require_job(current_app.extensions["failcat_repository"], job_id)
    except NotFoundError:
        raise NotFound(f"job {job_id} not found; the jobs are listed at /ui/") from None
    return render_template(
        "ui/job.html", page="jobs", job_id=job_id, categories=_category_context()
    )


@bp.get("/samples/<int:sample_id>/review")
def review_page(sample_id: int) -> str:
    """Render the review of a sample, one failure at a time."""
    return render_template(
        "ui/review.html",
        page="review",
        sample_id=sample_id,
        categories=_category_context(),
    )


@bp.get("/stats")
def stats_page() -> str:
    """Render the category statistics beside the published distribution."""
    return render_template(
        "ui/stats.html",
        page="stats",
        categories=_category_context(),
        paper_total=PAPER_TOTAL,
    )


@bp.get("/try")
def try_page() -> str:
    """Render the page that sends one image to the ensemble."""
    return render_template("ui/try.html", page="try")


@bp.errorhandler(NotFound)
def not_found_page(error: NotFound) -> tuple[str, int]:
    """Render a missing job or page as HTML, since people open these URLs."""
    return render_template(
        "ui/not_found.html", page=None, message=error.description
    ), 404
