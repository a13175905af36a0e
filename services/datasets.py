"""Datasets a job can run over, and the files behind image ids.

Two datasets exist. ``imagenet-val`` is the ILSVRC2012 validation set in the
folder ``FAILCAT_IMAGENET_VAL_DIR``, with official file names
``ILSVRC2012_val_%08d.JPEG`` either flat or inside WordNet-id class folders.
``folder`` is any folder of images under one of ``FAILCAT_DATASET_ROOTS``.

Image ids are ``imagenet-val:ILSVRC2012_val_00000001`` and
``folder:<root-relative path>``. A folder path never leaves its root: absolute
paths, ``..`` components and symlinks that resolve outside the root are
rejected.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import NamedTuple

from services import labels
from services.config import Settings
from services.errors import InvalidFieldError, NotFoundError

logger = logging.getLogger(__name__)

IMAGENET_VAL = "imagenet-val"
FOLDER = "folder"
DATASETS = (IMAGENET_VAL, FOLDER)
IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"}
)

_WNID_PATTERN = re.compile(r"n\d{8}")
_VAL_KEY_PATTERN = re.compile(r"ILSVRC2012_val_(\d{8})")


@dataclass(frozen=True)
class ImageRef:
    """An image of a dataset: its id, where its file is and what it shows."""

    image_id: str
    dataset: str
    key: str
    path: Path
    ground_truth: int | None
    real_labels: list[int] | None


class ValRange(NamedTuple):
    """The validation images found for a range, and the indices with no file."""

    refs: list[ImageRef]
    missing: list[int]


def image_id_for(dataset: str, key: str) -> str:
    """Return the image id of a key in a dataset."""
    return f"{dataset}:{key}"


def _val_ref(index: int, path: Path) -> ImageRef:
    key = labels.val_file_name(index).removesuffix(".JPEG")
    return ImageRef(
        image_id=image_id_for(IMAGENET_VAL, key),
        dataset=IMAGENET_VAL,
        key=key,
        path=path,
        ground_truth=labels.val_ground_truth(index),
        real_labels=labels.real_labels(index),
    )


def _check_val_dir(val_dir: Path | None) -> Path:
    if val_dir is None:
        raise InvalidFieldError(
            "dataset",
            "The imagenet-val dataset is not configured; set "
            "FAILCAT_IMAGENET_VAL_DIR to the folder with the ILSVRC2012_val_*.JPEG "
            "files.",
        )
    if not val_dir.is_dir():
        raise InvalidFieldError(
            "dataset",
            f"The imagenet-val folder {str(val_dir)!r} does not exist; set "
            "FAILCAT_IMAGENET_VAL_DIR to the folder with the ILSVRC2012_val_*.JPEG "
            "files.",
        )
    return val_dir


def _check_val_bound(field: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidFieldError(field, f"{field} must be an integer, got {value!r}.")
    if not 1 <= value <= labels.VAL_SIZE:
        raise InvalidFieldError(
            field,
            f"{field} {value} is outside the validation set; use an index from 1 "
            f"to {labels.VAL_SIZE}.",
        )


def _index_val_dir(val_dir: Path) -> dict[int, Path]:
    """Map validation indices to files, from one scan of the folder.

    The folder's own files and those in its WordNet-id subfolders are indexed.
    A flat file wins over one of the same name in a class folder.
    """
    found: dict[int, Path] = {}
    duplicates = 0
    class_dirs: list[Path] = []
    with os.scandir(val_dir) as entries:
        for entry in entries:
            if entry.is_dir() and _WNID_PATTERN.fullmatch(entry.name):
                class_dirs.append(Path(entry.path))
                continue
            index = labels.val_index_for_file_name(entry.name)
            if index is not None and entry.is_file():
                found[index] = Path(entry.path)
    for class_dir in sorted(class_dirs):
        with os.scandir(class_dir) as entries:
            for entry in entries:
                index = labels.val_index_for_file_name(entry.name)
                if index is None or not entry.is_file():
                    continue
                if index in found:
                    duplicates += 1
                    continue
                found[index] = Path(entry.path)
    if duplicates:
        logger.warning(
            "Ignored %d duplicate validation files in class folders of %s",
            duplicates,
            val_dir,
        )
    return found


def resolve_imagenet_val(val_dir: Path | None, start: int, stop: int) -> ValRange:
    """Find the validation images with official indices ``start`` to ``stop``.

    Both bounds are 1-based and inclusive, as in the file names. Returns the
    images that have a file, in index order, and the indices that have none.
    Raises InvalidFieldError for bounds outside 1 to 50000, ``start`` after
    ``stop``, or a missing or unconfigured folder (field ``dataset``).
    """
    _check_val_bound("start", start)
    _check_val_bound("stop", stop)
    if start > stop:
        raise InvalidFieldError(
            "start", f"start {start} is after stop {stop}; use start <= stop."
        )
    folder = _check_val_dir(val_dir)
    found = _index_val_dir(folder)
    refs: list[ImageRef] = []
    missing: list[int] = []
    for index in range(start, stop + 1):
        path = found.get(index)
        if path is None:
            missing.append(index)
        else:
            refs.append(_val_ref(index, path))
    logger.info(
        "Resolved imagenet-val %d-%d in %s: %d images, %d missing",
        start,
        stop,
        folder,
        len(refs),
        len(missing),
    )
    return ValRange(refs, missing)


def _relative_parts(path: str, field: str) -> tuple[str, ...]:
    """Split a root-relative path, rejecting absolute paths and ``..``."""
    if "\x00" in path:
        raise InvalidFieldError(field, f"{field} must not contain a NUL character.")
    pure = PurePosixPath(path)
    if pure.is_absolute():
        raise InvalidFieldError(
            field,
            f"{field} {path!r} is absolute; give a path relative to a dataset root.",
        )
    if ".." in pure.parts:
        raise InvalidFieldError(
            field,
            f"{field} {path!r} contains '..'; give a path inside a dataset root.",
        )
    return tuple(part for part in pure.parts if part != ".")


def _is_inside(path: Path, root: Path) -> bool:
    """Return whether ``path``, with symlinks followed, lies inside ``root``."""
    return path.resolve().is_relative_to(root.resolve())


def _is_image_file(name: str) -> bool:
    return Path(name).suffix.lower() in IMAGE_EXTENSIONS


def _folder_ground_truth(relative: PurePosixPath) -> int | None:
    """Read the class from a WordNet-id parent folder or file-name prefix."""
    if len(relative.parts) > 1:
        from_folder = labels.class_index_for_wnid(relative.parent.name)
        if from_folder is not None:
            return from_folder
    prefix = re.split(r"[_.]", relative.name, maxsplit=1)[0]
    if _WNID_PATTERN.fullmatch(prefix):
        return labels.class_index_for_wnid(prefix)
    return None


def _folder_ref(root: Path, relative: PurePosixPath) -> ImageRef:
    key = relative.as_posix()
    return ImageRef(
        image_id=image_id_for(FOLDER, key),
        dataset=FOLDER,
        key=key,
        path=root.joinpath(*relative.parts),
        ground_truth=_folder_ground_truth(relative),
        real_labels=None,
    )


def resolve_folder(roots: Sequence[Path], path: str) -> list[ImageRef]:
    """List the images in a folder under one of the dataset roots, sorted by key.

    ``path`` is relative to a root, and the first root that has it is used;
    ``""`` or ``"."`` means the whole root. Subfolders are searched except those
    reached through a symlink, and image files whose symlink leads outside the
    root are skipped. Raises InvalidFieldError (field ``path``) for an absolute
    path, a ``..`` component, a symlink out of the root, or a folder that no
    root has, and (field ``dataset``) when no root is configured.
    """
    if not roots:
        raise InvalidFieldError(
            "dataset",
            "The folder dataset is not configured; set FAILCAT_DATASET_ROOTS to "
            "one or more folders separated by ':'.",
        )
    parts = _relative_parts(path, "path")
    for root in roots:
        folder = root.joinpath(*parts)
        if not os.path.lexists(folder):
            continue
        if not _is_inside(folder, root):
            raise InvalidFieldError(
                "path",
                f"path {path!r} leads outside its dataset root through a symlink; "
                "give a folder inside the root.",
            )
        if not folder.is_dir():
            raise InvalidFieldError(
                "path", f"path {path!r} is not a folder; give a folder of images."
            )
        return _scan_folder(root, folder)
    raise InvalidFieldError(
        "path",
        f"path {path!r} was not found under any dataset root; give a folder "
        "relative to one of FAILCAT_DATASET_ROOTS.",
    )


def _scan_folder(root: Path, folder: Path) -> list[ImageRef]:
    resolved_root = root.resolve()
    refs: list[ImageRef] = []
    outside = 0
    # os.walk does not descend into symlinked folders by default, which also
    # keeps symlink loops out.
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        for name in filenames:
            if not _is_image_file(name):
                continue
            file_path = Path(dirpath, name)
            if not file_path.resolve().is_relative_to(resolved_root):
                outside += 1
                continue
            relative = PurePosixPath(file_path.relative_to(root).as_posix())
            refs.append(_folder_ref(root, relative))
    if outside:
        logger.warning(
            "Skipped %d image files in %s whose symlinks lead outside %s",
            outside,
            folder,
            root,
        )
    refs.sort(key=lambda ref: ref.key)
    return refs


def _val_ref_for_key(val_dir: Path | None, key: str, image_id: str) -> ImageRef:
    match = _VAL_KEY_PATTERN.fullmatch(key)
    index = int(match.group(1)) if match else 0
    if not 1 <= index <= labels.VAL_SIZE:
        raise NotFoundError(f"image {image_id!r} is not a validation image id.")
    if val_dir is None:
        raise NotFoundError(
            f"image {image_id!r} cannot be served because FAILCAT_IMAGENET_VAL_DIR "
            "is not set; set it to the validation folder."
        )
    file_name = labels.val_file_name(index)
    candidates = (
        val_dir / file_name,
        val_dir / labels.wnid(labels.val_ground_truth(index)) / file_name,
    )
    for candidate in candidates:
        if candidate.is_file():
            return _val_ref(index, candidate)
    raise NotFoundError(
        f"image {image_id!r} has no file in the imagenet-val folder {str(val_dir)!r}."
    )


def _folder_ref_for_key(roots: Sequence[Path], key: str, image_id: str) -> ImageRef:
    try:
        parts = _relative_parts(key, "image_id")
    except InvalidFieldError:
        raise NotFoundError(
            f"image {image_id!r} is not a path inside a dataset root."
        ) from None
    if not parts or not _is_image_file(parts[-1]):
        raise NotFoundError(f"image {image_id!r} is not an image file name.")
    relative = PurePosixPath(*parts)
    if relative.as_posix() != key:
        # Each image has one id, so spellings like "a/./b.png" match nothing.
        raise NotFoundError(f"image {image_id!r} is not in canonical form.")
    for root in roots:
        candidate = root.joinpath(*parts)
        if not candidate.is_file():
            continue
        if not _is_inside(candidate, root):
            raise NotFoundError(
                f"image {image_id!r} leads outside its dataset root through a symlink."
            )
        return _folder_ref(root, relative)
    raise NotFoundError(f"image {image_id!r} was not found under any dataset root.")


def ref_for_image_id(settings: Settings, image_id: str) -> ImageRef:
    """Find the file behind an image id.

    Raises NotFoundError for an unknown dataset, a malformed key, a file that
    does not exist, and a folder key that is absolute, contains ``..`` or
    resolves outside its root through a symlink.
    """
    dataset, sep, key = image_id.partition(":")
    if not sep or not key:
        raise NotFoundError(
            f"image {image_id!r} is not an image id; ids look like "
            "imagenet-val:ILSVRC2012_val_00000001 or folder:<path>."
        )
    if dataset == IMAGENET_VAL:
        return _val_ref_for_key(settings.imagenet_val_dir, key, image_id)
    if dataset == FOLDER:
        return _folder_ref_for_key(settings.dataset_roots, key, image_id)
    raise NotFoundError(
        f"image {image_id!r} names the unknown dataset {dataset!r}; use one of "
        f"{', '.join(DATASETS)}."
    )
