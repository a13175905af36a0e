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


def _is_bad_text(text: str) -> bool:
    """Tell whether ``text`` has a NUL or a lone surrogate, which UTF-8 cannot store."""
    if "\x00" in text:
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _find_bad_text(value: Any, path: str) -> str | None:
    """Return the name of the first string field of ``value`` with invalid text."""
    if isinstance(value, str):
        return path if _is_bad_text(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            found = _find_bad_text(item, str(key)) or (
                str(key) if _is_bad_text(str(key)) else None
            )
            if found:
                return found
    if isinstance(value, list):
        for item in value:
            found = _find_bad_text(item, path)
            if found:
                return found
    return None


def install_request_checks(app: Flask) -> None:
    """Bound integer path parameters and reject text UTF-8 cannot store.

    PostgreSQL text columns cannot store NUL, no database driver encodes a
    lone surrogate, and no failcat value needs either,
    so both databases reject such a request the same way.
    """
    app.url_map.converters["int"] = BoundedIntegerConverter

    @app.before_request
    def reject_invalid_text() -> None:
        message = "must not contain a NUL character or a lone surrogate"
        for name, value in request.args.items(multi=True):
            if _is_bad_text(name) or _is_bad_text(value):
                raise InvalidFieldError(name, f"{name} {message}")
        if request.is_json:
            body = request.get_json(silent=True)
            field = _find_bad_text(body, "json")
            if field:
                raise InvalidFieldError(field, f"{field} {message}")
