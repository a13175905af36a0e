"""The Flask application factory."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask
from flask_smorest import Api

from services.config import Settings, load_settings
from services.storage.engine import make_engine
from services.storage.repositories import Repository
from worker.celery_app import create_celery

logger = logging.getLogger(__name__)

# Room for multipart boundaries and part headers on top of the image itself.
MULTIPART_OVERHEAD_BYTES = 64 * 1024


def create_app(
    test_config: dict[str, Any] | None = None, settings: Settings | None = None
) -> Flask:
    """Build the API application from settings (default: the environment)."""
    from api import (
        annotations,
        docs,
        health,
        jobs,
        predictions,
        reports,
        samples,
        stats,
        ui,
    )
    from api.auth import install_auth
    from api.broker import WorkerClient
    from api.errors import register_error_handlers
    from api.request_checks import install_request_checks

    settings = settings or load_settings()
    app = Flask(__name__)
    app.config.update(
        FAILCAT_SETTINGS=settings,
        MAX_CONTENT_LENGTH=settings.max_upload_bytes + MULTIPART_OVERHEAD_BYTES,
        API_TITLE="failcat",
        API_VERSION="1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        JSON_SORT_KEYS=False,
    )
    app.json.sort_keys = False  # type: ignore[attr-defined]
    if test_config:
        app.config.update(test_config)

    app.extensions["failcat_repository"] = Repository(
        make_engine(settings.effective_database_url)
    )
    celery = create_celery(settings)
    app.extensions["failcat_celery"] = celery
    app.extensions["failcat_workers"] = WorkerClient(celery, settings.predict_timeout_s)

    install_request_checks(app)
    api = Api(app)
    api.register_blueprint(health.blp)
    api.register_blueprint(predictions.blp)
    api.register_blueprint(jobs.blp)
    api.register_blueprint(reports.blp)
    api.register_blueprint(annotations.blp)
    api.register_blueprint(samples.blp)
    api.register_blueprint(stats.blp)
    app.register_blueprint(docs.bp)
    app.register_blueprint(ui.bp)
    register_error_handlers(app)
    install_auth(app)

    @app.after_request
    def no_sniffing(response):  # type: ignore[no-untyped-def]
        # Dataset files are served with the type their name implies; a browser
        # must not guess another one from the bytes.
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response

    if not settings.api_keys:
        logger.warning(
            "no API keys are configured (FAILCAT_API_KEYS), so writes get 401"
        )
    return app
