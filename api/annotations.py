"""Failure categories and the annotations that assign them to failures.

``POST /v1/annotations`` returns 201 when it creates the caller's annotation of
a failure or revives a retracted one, and 200 when it changes a current one.
Only an annotation's own annotator may change (PUT) or retract (DELETE) it;
anyone else gets 403, because annotations are readable by everyone anyway.
"""

from __future__ import annotations

import logging

from flask import current_app, g, url_for
from flask.views import MethodView
from flask_smorest import Blueprint

from api.schemas import (
    AnnotationCreateSchema,
    AnnotationListSchema,
    AnnotationQuerySchema,
    AnnotationSchema,
    AnnotationUpdateSchema,
    CategoryListSchema,
)
from services import annotations
from services.categories import CATEGORIES
from services.storage.annotation_repository import AnnotationRepository
from services.storage.repositories import Repository

logger = logging.getLogger(__name__)

blp = Blueprint(
    "annotations",
    __name__,
    url_prefix="/v1",
    description="Failure categories and annotations",
)


def repository() -> Repository:
    return current_app.extensions["failcat_repository"]


def annotation_repository() -> AnnotationRepository:
    """Return the app's annotation repository, on the same engine as the others."""
    extensions = current_app.extensions
    if "failcat_annotation_repository" not in extensions:
        extensions["failcat_annotation_repository"] = AnnotationRepository(
            repository().engine
        )
    return extensions["failcat_annotation_repository"]


def max_note_chars() -> int:
    return current_app.config["FAILCAT_SETTINGS"].max_note_chars


@blp.route("/categories")
class Categories(MethodView):
    @blp.response(200, CategoryListSchema)
    def get(self):  # type: ignore[no-untyped-def]
        """List the five failure categories with their definitions

        The taxonomy and the reference counts come from Lee, Agarwal and Kim,
        "Why Do Deep Neural Networks Still Not Recognize These Images? A
        Qualitative Analysis on Failure Cases of ImageNet Classification".
        """
        items = [
            {
                "id": category.id,
                "key": category.key,
                "title": category.title,
                "definition": category.definition,
                "prediction_correct": category.prediction_correct,
                "paper_count": category.paper_count,
                "paper_rate": category.paper_rate,
            }
            for category in CATEGORIES
        ]
        return {"items": items, "total": len(items)}


@blp.route("/annotations")
class Annotations(MethodView):
    @blp.arguments(AnnotationCreateSchema)
    @blp.response(201, AnnotationSchema)
    def post(self, body: dict):  # type: ignore[no-untyped-def]
        """Record the caller's category for a failure of a job

        Requires an API key; the key's annotator is the annotation's. Returns
        201 for a new or revived annotation and 200 when it changes the
        caller's current one. Every call appends an event to its history.
        """
        outcome = annotations.record_annotation(
            repository(),
            annotation_repository(),
            job_id=body["job"],
            image_id=body["image"],
            annotator=g.annotator,
            category=body["category"],
            note=body.get("note"),
            max_note_chars=max_note_chars(),
        )

        status = 201 if outcome.action == "created" else 200
        location = url_for(
            "annotations.Annotation", annotation_id=outcome.annotation.id
        )
        view = annotations.annotation_view(outcome.annotation)
        return view, status, {"Location": location}

    @blp.arguments(AnnotationQuerySchema, location="query")
    @blp.response(200, AnnotationListSchema)
    def get(self, query: dict):  # type: ignore[no-untyped-def]
        """List annotations by job, sample, annotator and category

        Retracted annotations appear only with include_retracted=true, and
        history=true embeds each annotation's events in version order.
        """
        page = annotations.list_annotations(
            repository(),
            annotation_repository(),
            job_id=query.get("job"),
            sample_id=query.get("sample"),
            annotator=query.get("annotator"),
            category=query.get("category"),
            include_retracted=query["include_retracted"],
            history=query["history"],
            page=query["page"],
            per_page=query["per_page"],
        )
        return {
            "items": [annotations.annotation_view(item) for item in page.items],
            "page": page.page,
            "per_page": page.per_page,
            "total": page.total,
        }


@blp.route("/annotations/<int:annotation_id>")
class Annotation(MethodView):
    @blp.response(200, AnnotationSchema)
    def get(self, annotation_id: int):  # type: ignore[no-untyped-def]
        """Show an annotation with its full history of events"""
        found = annotation_repository().get_annotation(annotation_id, with_events=True)
        return annotations.annotation_view(found)

    @blp.arguments(AnnotationUpdateSchema)
    @blp.response(200, AnnotationSchema)
    def put(self, body: dict, annotation_id: int):  # type: ignore[no-untyped-def]
        """Change the category or note of the caller's own annotation

        Requires the API key of the annotation's annotator (403 otherwise). A
        retracted annotation gets 409, and POST /v1/annotations revives it.
        """
        changed = annotations.update_annotation(
            annotation_repository(),
            annotation_id,
            annotator=g.annotator,
            changes=body,
            max_note_chars=max_note_chars(),
        )
        return annotations.annotation_view(changed)

    @blp.response(200, AnnotationSchema)
    def delete(self, annotation_id: int):  # type: ignore[no-untyped-def]
        """Retract the caller's own annotation; its history is kept

        Requires the API key of the annotation's annotator (403 otherwise).
        Retracting a retracted annotation changes nothing and returns 200.
        """
        retracted = annotations.retract_annotation(
            annotation_repository(), annotation_id, annotator=g.annotator
        )
        return annotations.annotation_view(retracted)
