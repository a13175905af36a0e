"""Reports over a job's failures: the example sheet of suggested categories."""

from __future__ import annotations

import io

from flask import current_app, send_file
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from api.schemas import ID_RANGE
from services import jobs, reports
from services.storage.suggestion_repository import SuggestionRepository

blp = Blueprint("reports", __name__, url_prefix="/v1", description="Reports")


class ExampleSheetQuerySchema(Schema):
    job = fields.Integer(
        required=True, validate=ID_RANGE, metadata={"description": "the job's id"}
    )
    per_category = fields.Integer(
        load_default=5,
        validate=validate.Range(
            min=reports.MIN_PER_CATEGORY, max=reports.MAX_PER_CATEGORY
        ),
        metadata={"description": "failures shown per category, from 1 to 20"},
    )


@blp.route("/reports/examples.png")
class ExampleSheet(MethodView):
    @blp.arguments(ExampleSheetQuerySchema, location="query")
    @blp.response(200, content_type="image/png")
    def get(self, query: dict):  # type: ignore[no-untyped-def]
        """Draw failures of a job per suggested category, as a PNG

        One row per category, the most confident suggestions first, with the
        ground truth in red and the predicted class in blue. Returns 409 until
        the job's analysis_state is done.
        """
        repository = current_app.extensions["failcat_repository"]
        job = jobs.require_job(repository, query["job"])
        png = reports.example_sheet_png(
            repository,
            SuggestionRepository(repository.engine),
            current_app.config["FAILCAT_SETTINGS"],
            job.id,
            query["per_category"],
        )
        return send_file(io.BytesIO(png), mimetype="image/png", max_age=0)
