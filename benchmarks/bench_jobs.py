"""Job throughput against the in-process loop and a plain PyTorch evaluation.

Run: FAILCAT_TEST_DATA=../shared/data python benchmarks/bench_jobs.py

All three run on the validation images of FAILCAT_TEST_DATA/imagenet-val in one
invocation, so their ratios share the machine's state:

1. the job path: ``failcat up`` (API, embedded Redis, one worker, SQLite),
   a job over the range 1 to 50000, timed from the POST to state done;
2. the in-process loop it should approach: decode, preprocess, the three ONNX
   Runtime sessions at batch 32 with two intra-op threads and spinning off,
   one batch after the other;
3. PyTorch eager: the same three members and preprocessing with
   torch.set_num_threads(2), at the fastest of batch sizes 1, 8 and 32
   (chosen on a short run), over the first ``--torch-images`` images.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import RunningService, model_dir, test_data  # noqa: E402
from models.registry import MEMBERS, build_torch_model  # noqa: E402
from services.ensemble import Ensemble, softmax  # noqa: E402
from services.imaging import decode_image  # noqa: E402
from services.preprocess import preprocess  # noqa: E402

MAX_PIXELS = 40_000_000


def job_path(models: Path, val_dir: Path) -> tuple[float, float, int]:
    service = RunningService(models, {"FAILCAT_IMAGENET_VAL_DIR": str(val_dir)})
    try:
        started = time.perf_counter()
        created = requests.post(
            f"{service.base}/v1/jobs",
            json={"dataset": "imagenet-val", "start": 1, "stop": 50000},
            headers=service.headers,
            timeout=60,
        ).json()
        while True:
            job = service.get(f"/v1/jobs/{created['id']}")
            if job["state"] not in ("queued", "running"):
                break
            time.sleep(0.2)
        elapsed = time.perf_counter() - started
    finally:
        service.stop()
    if job["state"] != "done":
        sys.exit(f"the job ended {job['state']}: {job['error']}")
    done = job["counts"]["done"]
    return done / elapsed, job["images_per_second"], done


def in_process_loop(models: Path, paths: list[Path], batch: int = 32) -> float:
    ensemble = Ensemble.load(models, intra_op_threads=2)
    started = time.perf_counter()
    for begin in range(0, len(paths), batch):
        images = [
            decode_image(p.read_bytes(), MAX_PIXELS)
            for p in paths[begin : begin + batch]
        ]
        ensemble.predict_images(images)
    return len(paths) / (time.perf_counter() - started)


def torch_eager(paths: list[Path], batch_sizes: tuple[int, ...]) -> tuple[float, int]:
    import torch
    from PIL import Image

    torch.set_num_threads(2)
    networks = [(member, build_torch_model(member)) for member in MEMBERS]

    def run(selection: list[Path], batch: int) -> float:
        started = time.perf_counter()
        with torch.inference_mode():
            for begin in range(0, len(selection), batch):
                images = [
                    Image.open(p).convert("RGB")
                    for p in selection[begin : begin + batch]
                ]
                outputs = []
                for member, network in networks:
                    x = np.stack(
                        [preprocess(img, member.preprocessing) for img in images]
                    )
                    outputs.append(softmax(network(torch.from_numpy(x)).numpy()))
                np.mean(outputs, axis=0)
        return len(selection) / (time.perf_counter() - started)

    trial = paths[:32]
    rates = {batch: run(trial, batch) for batch in batch_sizes}
    best = max(rates, key=rates.get)
    return run(paths, best), best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--torch-images", type=int, default=256, help="images for the PyTorch run"
    )
    args = parser.parse_args()

    val_dir = test_data() / "imagenet-val"
    paths = sorted(val_dir.glob("ILSVRC2012_val_*.JPEG"))
    models = model_dir()

    loop_rate = in_process_loop(models, paths)
    job_rate, job_reported, done = job_path(models, val_dir)
    torch_rate, torch_batch = torch_eager(paths[: args.torch_images], (1, 8, 32))

    print(f"images: {len(paths)} validation images ({done} predicted by the job)")
    print(
        f"job path (POST to done):    {job_rate:.1f} images/s "
        f"(the job reports {job_reported} images/s)"
    )
    print(f"in-process ONNX loop:       {loop_rate:.1f} images/s")
    print(
        f"PyTorch eager (batch {torch_batch}):  {torch_rate:.1f} images/s "
        f"on {min(args.torch_images, len(paths))} images"
    )
    print(f"ratio job / in-process:     {job_rate / loop_rate:.2f} (target >= 0.9)")
    print(f"ratio job / PyTorch eager:  {job_rate / torch_rate:.2f} (target >= 3)")


if __name__ == "__main__":
    main()
