"""Single-image latency through HTTP and in-process ensemble throughput.

Run: FAILCAT_TEST_DATA=../shared/data python benchmarks/bench_serving.py

Posts images from imagenet-samples one at a time to a running ``failcat up``
and measures the latency of each request; then runs the same ensemble in this
process at batch 1 and batch 32 on the same images (decode, preprocess and
inference included) and prints images per second.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import RunningService, model_dir, test_data  # noqa: E402
from services.ensemble import Ensemble  # noqa: E402
from services.imaging import decode_image  # noqa: E402

MAX_PIXELS = 40_000_000


def http_latency(service: RunningService, paths: list[Path]) -> list[float]:
    timings = []
    for path in paths:
        data = path.read_bytes()
        started = time.perf_counter()
        response = requests.post(
            f"{service.base}/v1/predictions",
            data=data,
            headers={"Content-Type": "image/jpeg"},
            timeout=60,
        )
        timings.append(time.perf_counter() - started)
        response.raise_for_status()
    return timings


def in_process_rate(ensemble: Ensemble, paths: list[Path], batch: int) -> float:
    started = time.perf_counter()
    for begin in range(0, len(paths), batch):
        images = [
            decode_image(p.read_bytes(), MAX_PIXELS)
            for p in paths[begin : begin + batch]
        ]
        ensemble.predict_images(images)
    return len(paths) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=96, help="images per measurement")
    args = parser.parse_args()

    folder = test_data() / "imagenet-samples"
    paths = sorted(folder.glob("*.JPEG"))[: args.images]
    models = model_dir()

    service = RunningService(models)
    try:
        http_latency(service, paths[:5])  # warm-up
        timings = http_latency(service, paths)
    finally:
        service.stop()

    ensemble = Ensemble.load(models)
    ensemble.predict_images([decode_image(paths[0].read_bytes(), MAX_PIXELS)])
    batch1 = in_process_rate(ensemble, paths, 1)
    batch32 = in_process_rate(ensemble, paths, 32)

    timings.sort()
    median = statistics.median(timings)
    p90 = timings[int(0.9 * (len(timings) - 1))]
    print(f"images: {len(paths)} from imagenet-samples")
    print(
        f"HTTP single-image latency: median {median * 1000:.0f} ms, "
        f"p90 {p90 * 1000:.0f} ms"
    )
    print(f"HTTP sequential rate:       {1 / statistics.mean(timings):.1f} images/s")
    print(f"in-process batch 1:         {batch1:.1f} images/s")
    print(f"in-process batch 32:        {batch32:.1f} images/s")
    print(f"ratio batch 32 / batch 1:   {batch32 / batch1:.2f}")
    print(f"ratio HTTP / batch 1:       {(1 / statistics.mean(timings)) / batch1:.2f}")


if __name__ == "__main__":
    main()
