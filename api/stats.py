"""Statistics over a job's annotations, as JSON or as a per-category table."""

from __future__ import annotations

import logging
from dataclasses import replace

from flask import Response
from flask.views import MethodView
from flask_smorest import Blueprint

from api.annotations import annotation_repository, repository
from api.schemas import StatsQuerySchema
from services import stats_report, triage_stats
from services.storage.suggestion_repository import SuggestionRepository

logger = logging.getLogger(__name__)

blp = Blueprint(
    "stats", __name__, url_prefix="/v1", description="Statistics of annotations"
)

TABLE_MIMETYPES = {"csv": "text/csv", "md": "text/markdown"}


def suggestion_repository() -> SuggestionRepository:
    """Return the suggestion repository on the API's database engine."""
    return SuggestionRepository(repository().engine)


@blp.route("/stats")
class Stats(MethodView):
    @blp.arguments(StatsQuerySchema, location="query")
    @blp.response(200)
    def get(self, query: dict):  # type: ignore[no-untyped-def]
        """Count, rate and interval per category, agreement and confusions

        Counts cover current (not retracted) annotations, each annotation once;
        annotator= gives one annotator's labels. The suggested categories of
        the same failures appear under ``suggested``; compare=suggested adds
        Cohen's kappa, precision, recall and the confusion matrix between the
        suggestions and each annotator. format=csv or format=md returns only
        the per-category table, one row per category key.
        """
        report = stats_report.build_report(
            repository(),
            annotation_repository(),
            job_id=query.get("job"),
            sample_id=query.get("sample"),
            annotator=query.get("annotator"),
            confusion_limit=query["pairs"],
        )

        sample_items = None
        if report.sample_id is not None:
            sample = annotation_repository().get_sample(report.sample_id)
            sample_items = [item.image_id for item in sample.items]
        section = triage_stats.suggestion_section(
            suggestion_repository(),
            report.job.id,
            image_ids=sample_items,
            annotator=query.get("annotator"),
            compare=query.get("compare") == "suggested",
        )
        report = replace(
            report, suggested={**section, "analysis_state": report.job.analysis_state}
        )

        table_format = query["format"]
        if table_format in TABLE_MIMETYPES:
            body = stats_report.render_table(report, table_format)
            mimetype = TABLE_MIMETYPES[table_format]
            return Response(
                body, mimetype=mimetype, content_type=f"{mimetype}; charset=utf-8"
            )
        return report.as_dict()
