# One image for the API and the worker. ONNX_RUNTIME picks the extra:
# "cpu" installs onnxruntime, "gpu" installs onnxruntime-gpu (never both).
FROM python:3.11-slim

ARG ONNX_RUNTIME=cpu
ENV PIP_NO_CACHE_DIR=1 PYTHONUNBUFFERED=1 FAILCAT_HOME=/data

WORKDIR /app
COPY pyproject.toml README.md ./
COPY api api
COPY worker worker
COPY services services
COPY models models
# The CPU wheel index keeps torch, which is only needed to export, small.
RUN pip install --extra-index-url https://download.pytorch.org/whl/cpu "torch>=2.4,<2.14" \
    && pip install ".[${ONNX_RUNTIME}]"

VOLUME ["/data"]
EXPOSE 8000
CMD ["failcat", "api", "--host", "0.0.0.0", "--port", "8000"]
