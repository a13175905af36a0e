"""The ONNX Runtime ensemble: one session per member, softmax outputs averaged.

Sessions are heavy and not fork-safe, so only worker processes create them,
once per process after the fork.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from models.manifest import MemberEntry, manifest_problems, read_manifest
from models.registry import MEMBERS, Preprocessing, get_member
from services.errors import UnavailableError
from services.preprocess import preprocess

logger = logging.getLogger(__name__)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Return the softmax over the last axis, computed stably."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


@dataclass
class MemberSession:
    """A loaded member: its manifest entry, preprocessing and ONNX Runtime session."""

    entry: MemberEntry
    preprocessing: Preprocessing
    session: Any
    input_name: str
    execution_provider: str

    @property
    def name(self) -> str:
        return self.entry.name


@dataclass
class EnsembleOutput:
    """Softmax outputs for a batch: the ensemble mean and each member's."""

    probabilities: np.ndarray
    member_probabilities: dict[str, np.ndarray]


@dataclass
class Ensemble:
    """The loaded members and the identity of the files they came from."""

    members: list[MemberSession]
    ensemble_id: str
    requested_providers: tuple[str, ...]
    warnings: list[str] = field(default_factory=list)

    @property
    def execution_provider(self) -> str:
        """Return the provider the members run on (the first member's)."""
        return self.members[0].execution_provider

    @property
    def preprocessing(self) -> dict[str, Preprocessing]:
        return {m.name: m.preprocessing for m in self.members}

    @classmethod
    def load(
        cls,
        model_dir: Path,
        providers: tuple[str, ...] = ("CPUExecutionProvider",),
        intra_op_threads: int = 0,
    ) -> Ensemble:
        """Create one session per member from the exported files in ``model_dir``.

        Raises UnavailableError when the files do not match their manifest,
        so a worker never serves a half-exported or edited ensemble.
        """
        import onnxruntime as ort

        problems = manifest_problems(model_dir)
        if problems:
            raise UnavailableError(
                "the exported models are missing or do not match their manifest ("
                + "; ".join(problems)
                + "); run `failcat export`"
            )
        manifest = read_manifest(model_dir)
        assert manifest is not None

        available = set(ort.get_available_providers())
        chosen = [p for p in providers if p in available]
        warnings = []
        for provider in providers:
            if provider not in available:
                message = (
                    f"execution provider {provider} was requested but this "
                    f"onnxruntime build offers only {sorted(available)}; "
                    "falling back to the next provider"
                )
                warnings.append(message)
                logger.error("%s", message)
        if "CPUExecutionProvider" not in chosen:
            chosen.append("CPUExecutionProvider")

        threads = intra_op_threads or (os.cpu_count() or 1)
        members = []
        for entry in manifest.members:
            options = ort.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            # NOTE: with spinning on, the three sessions' idle threads compete for
            # the same cores; turning it off measured 20 to 45% faster on 2 cores.
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            session = ort.InferenceSession(
                str(model_dir / entry.file), sess_options=options, providers=chosen
            )
            in_use = session.get_providers()[0]
            if chosen[0] != in_use:
                message = (
                    f"member {entry.name} asked for {chosen[0]} but runs on {in_use}"
                )
                warnings.append(message)
                logger.error("%s", message)
            members.append(
                MemberSession(
                    entry=entry,
                    preprocessing=get_member(entry.name).preprocessing,
                    session=session,
                    input_name=session.get_inputs()[0].name,
                    execution_provider=in_use,
                )
            )
            logger.info(
                "loaded member %s sha256=%s provider=%s threads=%d",
                entry.name,
                entry.sha256[:12],
                in_use,
                threads,
            )
        return cls(
            members=members,
            ensemble_id=manifest.ensemble_id,
            requested_providers=tuple(providers),
            warnings=warnings,
        )

    def run(self, inputs: dict[str, np.ndarray]) -> EnsembleOutput:
        """Run every member on its NCHW batch and average the softmax outputs."""
        member_probabilities = {}
        for member in self.members:
            (logits,) = member.session.run(
                None, {member.input_name: inputs[member.name]}
            )
            member_probabilities[member.name] = softmax(logits.astype(np.float32))
        stacked = np.stack(list(member_probabilities.values()))
        return EnsembleOutput(
            probabilities=stacked.mean(axis=0),
            member_probabilities=member_probabilities,
        )

    def warm_up(self, batch_size: int) -> None:
        """Run every member once on a zero batch of ``batch_size`` images.

        ONNX Runtime allocates its buffers on the first run of a shape, which
        would otherwise slow down the first real batch by a second or more.
        """
        self.run(
            {
                m.name: np.zeros(
                    (batch_size, 3, m.entry.input_size, m.entry.input_size),
                    dtype=np.float32,
                )
                for m in self.members
            }
        )

    def make_inputs(self, images: list[Image.Image]) -> dict[str, np.ndarray]:
        """Preprocess decoded RGB images into one batch per member."""
        return {
            member.name: np.stack(
                [preprocess(img, member.preprocessing) for img in images]
            )
            for member in self.members
        }

    def predict_images(self, images: list[Image.Image]) -> EnsembleOutput:
        """Preprocess and run a batch of decoded RGB images."""
        return self.run(self.make_inputs(images))

    def describe(self) -> dict[str, Any]:
        """Return the members, sizes, preprocessing and providers for ``/v1/models``."""
        return {
            "ensemble": {
                "id": self.ensemble_id,
                "members": [m.name for m in self.members],
            },
            "execution_provider": self.execution_provider,
            "requested_providers": list(self.requested_providers),
            "warnings": list(self.warnings),
            "members": [
                {
                    "name": m.name,
                    "file": m.entry.file,
                    "sha256": m.entry.sha256,
                    "opset": m.entry.opset,
                    "input_size": m.entry.input_size,
                    "preprocessing": m.entry.preprocessing,
                    "execution_provider": m.execution_provider,
                }
                for m in self.members
            ],
        }


def registry_member_names() -> list[str]:
    """Return the names of the members the registry defines."""
    return [member.name for member in MEMBERS]
