"""Settings for every failcat process, read once from ``FAILCAT_*`` variables.

This module is the only place that reads the environment. Every default is
documented in README.md under "Configuration".
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from services.errors import ConfigurationError

DEFAULT_MAX_UPLOAD_BYTES = 20 * 1024 * 1024
DEFAULT_MAX_PIXELS = 40_000_000


def _parse_api_keys(raw: str) -> dict[str, str]:
    """Parse ``annotator=key`` pairs separated by commas into key -> annotator."""
    keys: dict[str, str] = {}
    for pair in raw.split(","):
        pair = pair.strip()
        if not pair:
            continue
        annotator, sep, key = pair.partition("=")
        annotator, key = annotator.strip(), key.strip()
        if not sep or not annotator or not key:
            raise ConfigurationError(
                "FAILCAT_API_KEYS entries must look like annotator=key; "
                f"found an entry without both parts near {annotator or '(empty)'!r}"
            )
        keys[key] = annotator
    return keys


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 1) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ConfigurationError(f"{name} must be at least {minimum}, got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number, got {raw!r}") from None
    if value <= 0:
        raise ConfigurationError(f"{name} must be positive, got {value}")
    return value


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _log_level(raw: str) -> str:
    level = raw.strip().upper()
    if level not in LOG_LEVELS:
        raise ConfigurationError(
            f"FAILCAT_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, got {raw!r}"
        )
    return level


@dataclass(frozen=True)
class Settings:
    """All configuration of one failcat process."""

    home: Path
    model_dir: Path
    database_url: str | None
    redis_url: str | None
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    max_pixels: int = DEFAULT_MAX_PIXELS
    predict_timeout_s: float = 30.0
    chunk_size: int = 64
    # NOTE: batches of 16 measured a few percent faster than 32 on 2 CPU cores.
    batch_size: int = 16
    max_note_chars: int = 2000
    result_expires_s: int = 3600
    # Redis redelivers a task whose worker died as a whole only after this many
    # seconds, so it must exceed the longest chunk (seconds on a CPU).
    visibility_timeout_s: int = 600
    # Providers in order of preference, as ONNX Runtime names them.
    execution_providers: tuple[str, ...] = ("CPUExecutionProvider",)
    intra_op_threads: int = 0
    api_keys: dict[str, str] = field(default_factory=dict)
    imagenet_val_dir: Path | None = None
    dataset_roots: tuple[Path, ...] = ()
    log_level: str = "INFO"

    @property
    def effective_database_url(self) -> str:
        """Return the configured database URL, or the SQLite file in ``home``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'failcat.db').resolve()}"

    @property
    def api_key_file(self) -> Path:
        """Return where ``failcat up`` stores the key it generates."""
        return self.home / "api-key"


_PROVIDER_ALIASES = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
}


def _parse_providers(raw: str) -> tuple[str, ...]:
    providers = []
    for name in raw.split(","):
        name = name.strip()
        if not name:
            continue
        providers.append(_PROVIDER_ALIASES.get(name.lower(), name))
    if not providers:
        raise ConfigurationError("FAILCAT_EXECUTION_PROVIDERS must name a provider")
    if "CPUExecutionProvider" not in providers:
        providers.append("CPUExecutionProvider")
    return tuple(providers)


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build the settings from ``env`` (default: the process environment)."""
    env = os.environ if env is None else env
    home = Path(env.get("FAILCAT_HOME") or ".failcat")
    model_dir = Path(env.get("FAILCAT_MODEL_DIR") or home / "models")
    val_dir = env.get("FAILCAT_IMAGENET_VAL_DIR")
    roots = tuple(
        Path(part)
        for part in (env.get("FAILCAT_DATASET_ROOTS") or "").split(":")
        if part
    )
    return Settings(
        home=home,
        model_dir=model_dir,
        database_url=env.get("FAILCAT_DATABASE_URL") or None,
        redis_url=env.get("FAILCAT_REDIS_URL") or None,
        max_upload_bytes=_int(
            env, "FAILCAT_MAX_UPLOAD_BYTES", DEFAULT_MAX_UPLOAD_BYTES
        ),
        max_pixels=_int(env, "FAILCAT_MAX_PIXELS", DEFAULT_MAX_PIXELS),
        predict_timeout_s=_float(env, "FAILCAT_PREDICT_TIMEOUT_S", 30.0),
        chunk_size=_int(env, "FAILCAT_CHUNK_SIZE", 64),
        batch_size=_int(env, "FAILCAT_BATCH_SIZE", 16),
        max_note_chars=_int(env, "FAILCAT_MAX_NOTE_CHARS", 2000),
        result_expires_s=_int(env, "FAILCAT_RESULT_EXPIRES_S", 3600),
        visibility_timeout_s=_int(env, "FAILCAT_VISIBILITY_TIMEOUT_S", 600, minimum=30),
        execution_providers=_parse_providers(
            env.get("FAILCAT_EXECUTION_PROVIDERS") or "cpu"
        ),
        intra_op_threads=_int(env, "FAILCAT_INTRA_OP_THREADS", 0, minimum=0),
        api_keys=_parse_api_keys(env.get("FAILCAT_API_KEYS") or ""),
        imagenet_val_dir=Path(val_dir) if val_dir else None,
        dataset_roots=roots,
        log_level=_log_level(env.get("FAILCAT_LOG_LEVEL") or "INFO"),
    )
