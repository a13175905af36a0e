"""Commands that work on datasets and annotations: evaluate, stats, report."""

from __future__ import annotations

from typing import Any

# Each entry takes the subparsers object and adds one command.
REGISTER: list[Any] = []
