"""One error shape for every endpoint: ``{code, status, message, errors}``."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from flask import Flask, jsonify
from sqlalchemy.exc import OperationalError as DatabaseOperationalError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from services.errors import FailcatError

logger = logging.getLogger(__name__)


def error_body(code: int, message: str, errors: dict[str, Any] | None = None) -> dict:
    """Return the JSON body of an error response."""
    body: dict[str, Any] = {
        "code": code,
        "status": HTTPStatus(code).phrase,
        "message": message,
    }
    if errors:
        body["errors"] = errors
    return body


def register_error_handlers(app: Flask) -> None:
    """Render domain errors and HTTP errors in the shape flask-smorest uses."""

    @app.errorhandler(FailcatError)
    def handle_domain_error(exc: FailcatError):  # type: ignore[no-untyped-def]
        if exc.status >= 500 and exc.status != 503:
            logger.exception("request failed: %s", exc.message)
        else:
            logger.warning("request rejected with %d: %s", exc.status, exc.message)
        response = jsonify(error_body(exc.status, exc.message, exc.errors))
        response.status_code = exc.status
        if exc.status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="failcat"'
        return response

    @app.errorhandler(RequestEntityTooLarge)
    def handle_too_large(exc: RequestEntityTooLarge):  # type: ignore[no-untyped-def]
        limit = app.config["FAILCAT_SETTINGS"].max_upload_bytes
        message = (
            f"the request body is over the upload limit of {limit} bytes "
            "(FAILCAT_MAX_UPLOAD_BYTES); send a smaller image"
        )
        response = jsonify(error_body(413, message, {"image": [message]}))
        response.status_code = 413
        return response

    @app.errorhandler(HTTPException)
    def handle_http_error(exc: HTTPException):  # type: ignore[no-untyped-def]
        code = exc.code or 500
        body = error_body(code, exc.description or HTTPStatus(code).phrase)
        # flask-smorest attaches validation messages as exc.data["messages"].
        data = getattr(exc, "data", None)
        if isinstance(data, dict) and data.get("messages"):
            body["errors"] = _by_field(data["messages"])
            body["message"] = _validation_summary(data["messages"])
        response = jsonify(body)
        response.status_code = code
        if exc.code == 405 and exc.valid_methods:  # type: ignore[attr-defined]
            response.headers["Allow"] = ", ".join(exc.valid_methods)  # type: ignore[attr-defined]
        return response

    @app.errorhandler(DatabaseOperationalError)
    def handle_database_down(exc: DatabaseOperationalError):  # type: ignore[no-untyped-def]
        logger.warning("database unreachable: %s", exc.orig)
        message = "the database is unreachable; try again when it is back"
        response = jsonify(error_body(503, message))
        response.status_code = 503
        return response

    @app.errorhandler(Exception)
    def handle_unexpected(exc: Exception):  # type: ignore[no-untyped-def]
        logger.exception("unhandled error")
        response = jsonify(error_body(500, "internal error; see the server log"))
        response.status_code = 500
        return response


def _validation_summary(messages: dict[str, Any]) -> str:
    """Name every invalid field and its first message in one sentence."""
    parts = []
    for location, fields in messages.items():
        if isinstance(fields, dict):
            for field, problems in fields.items():
                text = (
                    problems[0] if isinstance(problems, list) and problems else problems
                )
                parts.append(f"{field} ({location}): {text}")
        else:
            parts.append(f"{location}: {fields}")
    return "invalid request: " + "; ".join(parts)


def _by_field(messages: dict[str, Any]) -> dict[str, Any]:
    """Key validation messages by field, as domain errors are.

    flask-smorest nests them under the request location (``json``, ``query``);
    no failcat route takes the same field name from two locations.
    """
    flat: dict[str, Any] = {}
    for location, fields in messages.items():
        if isinstance(fields, dict):
            flat.update(fields)
        else:
            flat[location] = fields
    return flat
