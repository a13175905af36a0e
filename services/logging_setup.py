"""Process-wide logging, configured once at process start."""

from __future__ import annotations

import logging

FORMAT = "%(asctime)s %(levelname)s %(processName)s %(name)s: %(message)s"


def configure_logging(level: str = "INFO") -> None:
    """Send log records to stderr with one format for every failcat process."""
    root = logging.getLogger()
    if getattr(root, "_failcat_configured", False):
        root.setLevel(level)
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(FORMAT))
    root.handlers[:] = [handler]
    root.setLevel(level)
    root._failcat_configured = True  # type: ignore[attr-defined]
    # Libraries that log every request or heartbeat at INFO stay at WARNING.
    for noisy in ("urllib3", "PIL", "onnxscript", "onnx_ir", "torch.onnx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
