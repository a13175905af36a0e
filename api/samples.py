"""Seeded random samples of a job's failures and each annotator's progress.

``GET /v1/samples/<id>/next`` returns 200 with ``"item": null`` and
``"done": true`` once the caller has annotated every item, so a review page
can tell "finished" from an error with one request.
"""

from __future__ import annotations

import logging

from flask import g, url_for
from flask.views import MethodView
from flask_smorest import Blueprint

from api.annotations import annotation_repository, repository
from api.schemas import (
    NextItemSchema,
    SampleCreateSchema,
    SampleQuerySchema,
    SampleSchema,
)
from services import samples

logger = logging.getLogger(__name__)

blp = Blueprint(
    "samples", __name__, url_prefix="/v1", description="Samples of failures"
)


@blp.route("/jobs/<int:job_id>/samples")
class JobSamples(MethodView):
    @blp.arguments(SampleCreateSchema)
    @blp.response(201, SampleSchema)
    def post(self, body: dict, job_id: int):  # type: ignore[no-untyped-def]
        """Draw a seeded random sample of a finished job's failures

        Requires an API key. The draw depends only on the seed and the job's
        failures sorted by image id, so the same seed gives the same sample.
        Returns 409 when the job is not done or has fewer failures than size.
        """
        sample = samples.create_sample(
            repository(),
            annotation_repository(),
            job_id=job_id,
            size=body["size"],
            seed=body["seed"],
            created_by=g.annotator,
        )

        location = url_for("samples.Sample", sample_id=sample.id)
        return samples.sample_view(sample), 201, {"Location": location}


@blp.route("/samples/<int:sample_id>")
class Sample(MethodView):
    @blp.arguments(SampleQuerySchema, location="query")
    @blp.response(200, SampleSchema)
    def get(self, query: dict, sample_id: int):  # type: ignore[no-untyped-def]
        """Show a sample's items with the caller's current annotation of each

        The caller is the annotator of the API key sent, or ?annotator= when
        given. Without either, no item shows an annotation.
        """
        sample = annotation_repository().get_sample(sample_id)
        annotator = query.get("annotator") or g.annotator
        return samples.sample_progress_view(annotation_repository(), sample, annotator)


@blp.route("/samples/<int:sample_id>/next")
class NextItem(MethodView):
    @blp.arguments(SampleQuerySchema, location="query")
    @blp.response(200, NextItemSchema)
    def get(self, query: dict, sample_id: int):  # type: ignore[no-untyped-def]
        """Return the caller's first item, by position, without an annotation

        Returns 200 with item null and done true when every item is annotated,
        and 401 when neither an API key nor ?annotator= names the caller.
        """
        sample = annotation_repository().get_sample(sample_id)
        annotator = query.get("annotator") or g.annotator
        return samples.next_item_view(annotation_repository(), sample, annotator)
