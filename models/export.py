"""Export the ensemble's members from PyTorch to ONNX and check each export.

Each member becomes one self-contained ``.onnx`` file (opset 18, dynamic batch
axis, fixed input size) that the ONNX checker accepts and whose logits match
PyTorch on the check images. The manifest is written last, so an interrupted
export leaves no manifest that claims files it does not have.
"""

from __future__ import annotations

import fcntl
import logging
import platform
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from models.manifest import (
    EXPORT_FORMAT,
    OPSET,
    Manifest,
    MemberEntry,
    manifest_problems,
    read_manifest,
    sha256_file,
    write_manifest,
)
from models.registry import MEMBERS, Member, build_torch_model
from services.preprocess import preprocess

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp"}
MAX_LOGIT_DIFFERENCE = 1e-3


@dataclass(frozen=True)
class ParityResult:
    """Agreement of one exported member with PyTorch on the check images."""

    member: str
    images: int
    synthetic: bool
    max_abs_logit_difference: float
    top1_agreement: float


def synthetic_images(count: int = 8, seed: int = 0) -> list[Image.Image]:
    """Make smooth colour images for a parity check when no photos are given."""
    rng = np.random.default_rng(seed)
    images = []
    for _ in range(count):
        y, x = np.mgrid[0:320, 0:400].astype(np.float32)
        channels = []
        for _channel in range(3):
            fx, fy, phase = rng.uniform(0.005, 0.05, 2).tolist() + [rng.uniform(0, 6)]
            channels.append(127 + 120 * np.sin(fx * x + fy * y + phase))
        pixels = np.stack(channels, axis=-1) + rng.normal(0, 8, (320, 400, 3))
        images.append(Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB"))
    return images


def load_check_images(folder: Path | None, limit: int = 16) -> list[Image.Image]:
    """Return up to ``limit`` RGB photos from ``folder``, sorted by name."""
    if folder is None:
        return []
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    return [Image.open(p).convert("RGB") for p in paths[:limit]]


def export_member(member: Member, model_dir: Path) -> Path:
    """Export one member to ``model_dir/<name>.onnx`` and run the ONNX checker."""
    import onnx
    import torch

    model = build_torch_model(member)
    size = member.input_size
    # A batch of 2 keeps the exporter from specialising the batch axis to 1.
    example = torch.zeros(2, 3, size, size)
    target = model_dir / member.onnx_file
    partial = target.with_suffix(".onnx.partial")
    with torch.no_grad():
        torch.onnx.export(
            model,
            (example,),
            str(partial),
            dynamo=True,
            opset_version=OPSET,
            input_names=["input"],
            output_names=["logits"],
            dynamic_shapes={"inputs": {0: torch.export.Dim("batch")}},
            external_data=False,
        )
    model_proto = onnx.load(str(partial))
    strip_source_metadata(model_proto.graph)
    onnx.save(model_proto, str(partial))
    onnx.checker.check_model(str(partial), full_check=True)
    partial.replace(target)
    return target


def strip_source_metadata(graph: Any) -> None:
    """Remove the exporter's per-node source locations from a graph, in place.

    torch.onnx records each node's Python stack trace, with absolute paths of
    the virtual environment, in ``metadata_props``. Without them the same
    weights export to the same bytes in any folder, so the ensemble id does
    not depend on where failcat is installed.
    """
    for node in graph.node:
        del node.metadata_props[:]
        node.doc_string = ""
        for attribute in node.attribute:
            if attribute.g is not None and attribute.HasField("g"):
                strip_source_metadata(attribute.g)
            for subgraph in attribute.graphs:
                strip_source_metadata(subgraph)
    del graph.metadata_props[:]
    graph.doc_string = ""


def check_parity(
    member: Member, onnx_path: Path, images: list[Image.Image], synthetic: bool
) -> ParityResult:
    """Compare the ONNX file's logits with PyTorch's on the same inputs."""
    import onnxruntime as ort
    import torch

    batch = np.stack([preprocess(img, member.preprocessing) for img in images])
    model = build_torch_model(member)
    with torch.no_grad():
        expected = model(torch.from_numpy(batch)).numpy()
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    (actual,) = session.run(None, {session.get_inputs()[0].name: batch})
    difference = float(np.abs(actual - expected).max())
    agreement = float((actual.argmax(axis=1) == expected.argmax(axis=1)).mean())
    return ParityResult(member.name, len(images), synthetic, difference, agreement)


@contextmanager
def export_lock(model_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock so two processes never export into one folder."""
    model_dir.mkdir(parents=True, exist_ok=True)
    with (model_dir / ".export.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def export_ensemble(
    model_dir: Path,
    check_images_dir: Path | None = None,
    force: bool = False,
    report: Callable[[str], None] = print,
) -> Manifest:
    """Export every member, check it, and write the manifest.

    Nothing is exported when the files already match the manifest, unless
    ``force`` is set. Raises RuntimeError when an export fails its parity
    check.
    """
    import onnx
    import torch

    with export_lock(model_dir):
        if not force and not manifest_problems(model_dir):
            manifest = read_manifest(model_dir)
            assert manifest is not None
            report(f"models in {model_dir} match their manifest; export skipped")
            return manifest

        images = load_check_images(check_images_dir)
        synthetic = not images
        if synthetic:
            images = synthetic_images()
            report(
                "no check images given (--check-images); comparing PyTorch and "
                "ONNX on synthetic images"
            )

        entries = []
        parity = []
        for member in MEMBERS:
            report(
                f"exporting {member.name} "
                f"({member.architecture}, {member.input_size} px)"
            )
            path = export_member(member, model_dir)
            result = check_parity(member, path, images, synthetic)
            report(
                f"  {member.name}: max |logit difference| "
                f"{result.max_abs_logit_difference:.2e}, top-1 agreement "
                f"{result.top1_agreement:.3f} on {result.images} "
                f"{'synthetic' if synthetic else 'real'} images"
            )
            if result.max_abs_logit_difference > MAX_LOGIT_DIFFERENCE:
                raise RuntimeError(
                    f"{member.name}: ONNX logits differ from PyTorch by "
                    f"{result.max_abs_logit_difference:.2e}, more than "
                    f"{MAX_LOGIT_DIFFERENCE}; the export is not trustworthy"
                )
            parity.append(result.__dict__)
            entries.append(
                MemberEntry(
                    name=member.name,
                    file=member.onnx_file,
                    sha256=sha256_file(path),
                    opset=OPSET,
                    input_size=member.input_size,
                    preprocessing=member.preprocessing.as_dict(),
                )
            )
        manifest = Manifest(
            members=entries,
            details={
                "export_format": EXPORT_FORMAT,
                "exported_with": {
                    "torch": torch.__version__,
                    "onnx": onnx.__version__,
                    "python": platform.python_version(),
                },
                "parity": parity,
            },
        )
        write_manifest(model_dir, manifest)
        report(
            f"wrote {model_dir / 'manifest.json'}; ensemble id {manifest.ensemble_id}"
        )
        logger.info("exported ensemble %s to %s", manifest.ensemble_id, model_dir)
        return manifest
