"""Domain errors. Each carries the HTTP status of the API response."""

from __future__ import annotations

from typing import Any


class FailcatError(Exception):
    """Base of every error failcat reports to a caller."""

    status = 500

    def __init__(self, message: str, errors: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors or {}


class ConfigurationError(FailcatError):
    """A ``FAILCAT_*`` setting is invalid."""

    status = 500


class InvalidFieldError(FailcatError):
    """A field of a request has a value the service cannot use."""

    status = 422

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message, {field: [message]})
        self.field = field


class MissingImageError(FailcatError):
    """No image, an empty one, or a body that is neither multipart nor image/*."""

    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message, {"image": [message]})


class UnsupportedImageError(FailcatError):
    """Bytes that are not an image format failcat decodes."""

    status = 415

    def __init__(self, message: str) -> None:
        super().__init__(message, {"image": [message]})


class ImageTooLargeError(FailcatError):
    """An upload over the byte limit or an image over the pixel limit."""

    status = 413

    def __init__(self, message: str) -> None:
        super().__init__(message, {"image": [message]})


class CorruptImageError(FailcatError):
    """An image that starts decoding but is truncated or corrupt."""

    status = 422

    def __init__(self, message: str) -> None:
        super().__init__(message, {"image": [message]})


class UnauthorizedError(FailcatError):
    """A missing or unknown API key on a protected route."""

    status = 401


class NotFoundError(FailcatError):
    """An unknown job, sample, image or annotation."""

    status = 404


class ConflictError(FailcatError):
    """A request that conflicts with the state of a resource."""

    status = 409


class UnavailableError(FailcatError):
    """A worker, the database or Redis did not respond in time."""

    status = 503
