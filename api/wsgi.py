"""WSGI entry point for gunicorn: ``gunicorn api.wsgi:app``."""

from api import create_app
from services.config import load_settings
from services.logging_setup import configure_logging

configure_logging(load_settings().log_level)
app = create_app()
