"""Checks that run on every request before its view."""

from __future__ import annotations

from typing import Any

from flask import Flask, request
from werkzeug.routing import IntegerConverter

from services.errors import InvalidFieldError

# Ids in paths fit the databases' 32-bit integer columns. A larger id matches
# no route, so the response is 404 instead of an overflow in the driver.
MAX_PATH_ID = 2**31 - 1


class BoundedIntegerConverter(IntegerConverter):
    """The ``int`` path converter, limited to values a database column stores."""

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:  # noqa: A002
        kwargs.setdefault("max", MAX_PATH_ID)
        super().__init__(map, *args, **kwargs)


def _find_nul(value: Any, path: str) -> str | None:
    """Return the name of the first string field of ``value`` holding a NUL."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            found = _find_nul(item, str(key)) or (
                str(key) if "\x00" in str(key) else None
            )
            if found:
                return found
    if isinstance(value, list):
        for item in value:
            found = _find_nul(item, path)
            if found:
                return found
    return None


def install_request_checks(app: Flask) -> None:
    """Bound integer path parameters and reject NUL characters in any field.

    PostgreSQL text columns cannot store NUL, and no failcat value needs one,
    so both databases reject such a request the same way.
    """
    app.url_map.converters["int"] = BoundedIntegerConverter

    @app.before_request
    def reject_nul_characters() -> None:
        for name, value in request.args.items(multi=True):
            if "\x00" in name or "\x00" in value:
                raise InvalidFieldError(
                    name, f"{name} must not contain a NUL character"
                )
        if request.is_json:
            body = request.get_json(silent=True)
            field = _find_nul(body, "json")
            if field:
                raise InvalidFieldError(
                    field, f"{field} must not contain a NUL character"
                )
