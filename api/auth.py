"""API keys: every POST, PUT and DELETE needs one, except predictions."""

from __future__ import annotations

import hmac
import logging

from flask import Flask, g, request

from services.errors import UnauthorizedError

logger = logging.getLogger(__name__)

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Endpoints that accept writes without a key.
OPEN_ENDPOINTS = frozenset({"predictions.Predictions"})


def presented_key() -> str | None:
    """Return the key from ``Authorization: Bearer`` or ``X-API-Key``, if any."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    key = request.headers.get("X-API-Key", "").strip()
    return key or None


def annotator_for_key(keys: dict[str, str], key: str | None) -> str | None:
    """Return the annotator behind ``key``, comparing in constant time."""
    if key is None:
        return None
    found = None
    for known, annotator in keys.items():
        if hmac.compare_digest(known.encode(), key.encode()):
            found = annotator
    return found


def install_auth(app: Flask) -> None:
    """Check the API key before every protected request."""

    @app.before_request
    def require_key() -> None:
        g.annotator = annotator_for_key(
            app.config["FAILCAT_SETTINGS"].api_keys, presented_key()
        )
        if request.method not in WRITE_METHODS:
            return
        if request.endpoint in OPEN_ENDPOINTS or request.endpoint is None:
            return
        if not app.config["FAILCAT_SETTINGS"].api_keys:
            raise UnauthorizedError(
                "no API keys are configured, so writes are disabled; set "
                "FAILCAT_API_KEYS=annotator=key or start with `failcat up`"
            )
        if presented_key() is None:
            raise UnauthorizedError(
                "this request needs an API key; send 'Authorization: Bearer <key>'"
            )
        if g.annotator is None:
            raise UnauthorizedError("the API key is not valid; check FAILCAT_API_KEYS")
