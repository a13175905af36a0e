"""Settings read from FAILCAT_* variables."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.config import load_settings
from services.errors import ConfigurationError


def test_defaults():
    settings = load_settings({})
    assert settings.home == Path(".failcat")
    assert settings.model_dir == Path(".failcat/models")
    assert settings.max_upload_bytes == 20 * 1024 * 1024
    assert settings.max_pixels == 40_000_000
    assert settings.predict_timeout_s == 30.0
    assert settings.chunk_size == 64
    assert settings.max_note_chars == 2000
    assert settings.execution_providers == ("CPUExecutionProvider",)
    assert settings.api_keys == {}
    assert settings.effective_database_url.startswith("sqlite:///")


def test_api_keys_parsed():
    settings = load_settings({"FAILCAT_API_KEYS": "alice=k1, bob=k2"})
    assert settings.api_keys == {"k1": "alice", "k2": "bob"}


def test_api_key_without_name_rejected():
    with pytest.raises(ConfigurationError, match="annotator=key"):
        load_settings({"FAILCAT_API_KEYS": "justakey"})


def test_cuda_then_cpu():
    settings = load_settings({"FAILCAT_EXECUTION_PROVIDERS": "cuda"})
    assert settings.execution_providers == (
        "CUDAExecutionProvider",
        "CPUExecutionProvider",
    )


def test_bad_integer_named():
    with pytest.raises(ConfigurationError, match="FAILCAT_MAX_PIXELS"):
        load_settings({"FAILCAT_MAX_PIXELS": "lots"})


def test_dataset_roots_split():
    settings = load_settings({"FAILCAT_DATASET_ROOTS": "/a:/b"})
    assert settings.dataset_roots == (Path("/a"), Path("/b"))


def test_bad_log_level_named():
    with pytest.raises(ConfigurationError, match="FAILCAT_LOG_LEVEL"):
        load_settings({"FAILCAT_LOG_LEVEL": "LOUD"})
