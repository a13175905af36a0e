"""Predictions for uploaded images, and the ensemble that makes them."""

from __future__ import annotations

import base64

from flask import current_app, request
from flask.views import MethodView
from flask_smorest import Blueprint

from api.schemas import ModelsSchema, PredictionQuerySchema, PredictionSchema
from services.errors import ImageTooLargeError, MissingImageError, UnavailableError
from services.imaging import open_image

blp = Blueprint("predictions", __name__, url_prefix="/v1", description="Predictions")

UPLOAD_BODY = {
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {"image": {"type": "string", "format": "binary"}},
                "required": ["image"],
            }
        },
        "image/*": {"schema": {"type": "string", "format": "binary"}},
    },
    "required": True,
}


def _too_large(limit: int) -> ImageTooLargeError:
    return ImageTooLargeError(
        f"the image is over the upload limit of {limit} bytes "
        "(FAILCAT_MAX_UPLOAD_BYTES); send a smaller image"
    )


def read_upload(limit: int) -> bytes:
    """Read the uploaded image from a multipart part or a raw ``image/*`` body.

    At most ``limit + 1`` bytes are read, so an oversized body is rejected
    without holding it in memory.
    """
    mimetype = request.mimetype
    if mimetype == "multipart/form-data":
        part = request.files.get("image")
        if part is None:
            raise MissingImageError(
                "the multipart body has no 'image' part; send the file as "
                "-F image=@photo.jpg"
            )
        data = part.stream.read(limit + 1)
    elif mimetype.startswith("image/"):
        if request.content_length is not None and request.content_length > limit:
            raise _too_large(limit)
        data = request.stream.read(limit + 1)
    else:
        raise MissingImageError(
            f"the body is {mimetype or 'without a content type'}; send the image "
            "as multipart field 'image' or as a raw body with an image/* content type"
        )
    if len(data) > limit:
        raise _too_large(limit)
    if not data:
        raise MissingImageError("the image is empty; send the bytes of a JPEG or PNG")
    return data


@blp.route("/predictions")
class Predictions(MethodView):
    @blp.arguments(PredictionQuerySchema, location="query")
    @blp.response(200, PredictionSchema)
    @blp.doc(requestBody=UPLOAD_BODY)
    def post(self, query: dict) -> dict:
        """Predict the classes of one image

        The image is the multipart field ``image`` or the raw body with an
        ``image/*`` content type. It is not stored.
        """
        settings = current_app.config["FAILCAT_SETTINGS"]
        data = read_upload(settings.max_upload_bytes)

        # The header check rejects non-images and pixel bombs before any worker
        # spends time on them; the worker decodes the pixels.
        open_image(data, settings.max_pixels)

        client = current_app.extensions["failcat_workers"]
        return client.predict(base64.b64encode(data).decode("ascii"), query["top_k"])


@blp.route("/models")
class Models(MethodView):
    @blp.response(200, ModelsSchema)
    def get(self) -> dict:
        """Describe the ensemble members the workers serve"""
        client = current_app.extensions["failcat_workers"]
        nodes = client.ping()
        for status in client.worker_statuses(nodes):
            if status.get("loaded"):
                return {**status, "workers": nodes}
        raise UnavailableError(
            "no worker has loaded the ensemble; start one with `failcat worker`"
            if not nodes
            else "the workers have not loaded the ensemble yet; see GET /readyz"
        )
