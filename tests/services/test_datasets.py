"""Tests of dataset resolution and image-id lookup on real folders."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest
from PIL import Image

from services import labels
from services.config import Settings, load_settings
from services.datasets import (
    ImageRef,
    ref_for_image_id,
    resolve_folder,
    resolve_imagenet_val,
)
from services.errors import InvalidFieldError, NotFoundError


def _write_png(path: Path, color: tuple[int, int, int] = (200, 30, 30)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 6), color).save(path, format="PNG")
    return path


def _val_name(index: int) -> str:
    return f"ILSVRC2012_val_{index:08d}.JPEG"


@pytest.fixture
def val_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "val"
    for index in (1, 3, 10):
        _write_png(folder / _val_name(index))
    (folder / "README.txt").write_text("not an image")
    return folder


@pytest.fixture
def dataset_root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    _write_png(root / "pets" / "n01440764" / "b.png")
    _write_png(root / "pets" / "n01440764" / "a.JPG")
    _write_png(root / "pets" / "n01443537_goldfish.jpeg")
    _write_png(root / "pets" / "unlabelled.webp")
    _write_png(root / "pets" / "nested" / "deeper" / "n01484850_shark.PNG")
    (root / "pets" / "notes.txt").write_text("not an image")
    return root


def _settings(tmp_path: Path, val: Path | None, roots: list[Path]) -> Settings:
    env = {"FAILCAT_HOME": str(tmp_path / "home")}
    if val is not None:
        env["FAILCAT_IMAGENET_VAL_DIR"] = str(val)
    if roots:
        env["FAILCAT_DATASET_ROOTS"] = ":".join(str(root) for root in roots)
    return load_settings(env)


# imagenet-val


def test_val_range_finds_present_files(val_dir: Path) -> None:
    refs, missing = resolve_imagenet_val(val_dir, 1, 10)
    assert [ref.key for ref in refs] == [
        "ILSVRC2012_val_00000001",
        "ILSVRC2012_val_00000003",
        "ILSVRC2012_val_00000010",
    ]
    assert missing == [2, 4, 5, 6, 7, 8, 9]


def test_val_ref_fields(val_dir: Path) -> None:
    refs, _ = resolve_imagenet_val(val_dir, 3, 3)
    assert refs == [
        ImageRef(
            image_id="imagenet-val:ILSVRC2012_val_00000003",
            dataset="imagenet-val",
            key="ILSVRC2012_val_00000003",
            path=val_dir / _val_name(3),
            ground_truth=labels.val_ground_truth(3),
            real_labels=[230, 231],
        )
    ]


def test_val_range_bounds_are_inclusive(val_dir: Path) -> None:
    refs, missing = resolve_imagenet_val(val_dir, 3, 10)
    assert [ref.key[-2:] for ref in refs] == ["03", "10"]
    assert missing == [4, 5, 6, 7, 8, 9]


def test_val_class_folders_are_found(tmp_path: Path) -> None:
    folder = tmp_path / "val"
    wnid = labels.wnid(labels.val_ground_truth(1))
    _write_png(folder / wnid / _val_name(1))
    _write_png(folder / _val_name(2))
    refs, missing = resolve_imagenet_val(folder, 1, 3)
    assert [ref.path for ref in refs] == [
        folder / wnid / _val_name(1),
        folder / _val_name(2),
    ]
    assert missing == [3]


def test_val_flat_file_wins_over_class_folder(tmp_path: Path) -> None:
    folder = tmp_path / "val"
    _write_png(folder / _val_name(1))
    _write_png(folder / "n01751748" / _val_name(1))
    refs, _ = resolve_imagenet_val(folder, 1, 1)
    assert [ref.path for ref in refs] == [folder / _val_name(1)]


@pytest.mark.parametrize(
    ("start", "stop", "field"),
    [
        (5, 4, "start"),
        (0, 10, "start"),
        (50_001, 50_001, "start"),
        (1, 50_001, "stop"),
        (1, 0, "stop"),
    ],
)
def test_val_range_invalid_bounds(
    val_dir: Path, start: int, stop: int, field: str
) -> None:
    with pytest.raises(InvalidFieldError) as raised:
        resolve_imagenet_val(val_dir, start, stop)
    assert raised.value.field == field


def test_val_range_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(InvalidFieldError) as raised:
        resolve_imagenet_val(tmp_path / "absent", 1, 10)
    assert raised.value.field == "dataset"
    assert "FAILCAT_IMAGENET_VAL_DIR" in raised.value.message


def test_val_range_unconfigured_folder() -> None:
    with pytest.raises(InvalidFieldError) as raised:
        resolve_imagenet_val(None, 1, 10)
    assert raised.value.field == "dataset"
    assert "FAILCAT_IMAGENET_VAL_DIR" in raised.value.message


def test_val_range_on_real_folder(test_data_dir: Path) -> None:
    folder = test_data_dir / "imagenet-val"
    refs, missing = resolve_imagenet_val(folder, 1, 50_000)
    assert len(refs) == 1028
    assert len(missing) == 48_972
    with (folder / "MANIFEST.csv").open(newline="") as handle:
        expected = {
            row["file"].removesuffix(".JPEG"): int(row["gt"])
            for row in csv.DictReader(handle)
        }
    assert {ref.key: ref.ground_truth for ref in refs} == expected
    assert all(ref.path.is_file() for ref in refs)
    assert all(ref.real_labels is not None for ref in refs)


# folder


def test_folder_lists_images_sorted(dataset_root: Path) -> None:
    refs = resolve_folder([dataset_root], "pets")
    assert [ref.key for ref in refs] == [
        "pets/n01440764/a.JPG",
        "pets/n01440764/b.png",
        "pets/n01443537_goldfish.jpeg",
        "pets/nested/deeper/n01484850_shark.PNG",
        "pets/unlabelled.webp",
    ]


def test_folder_ground_truth(dataset_root: Path) -> None:
    refs = {ref.key: ref for ref in resolve_folder([dataset_root], "pets")}
    assert refs["pets/n01440764/a.JPG"].ground_truth == 0
    assert refs["pets/n01443537_goldfish.jpeg"].ground_truth == 1
    assert refs["pets/nested/deeper/n01484850_shark.PNG"].ground_truth == 2
    assert refs["pets/unlabelled.webp"].ground_truth is None


def test_folder_ref_fields(dataset_root: Path) -> None:
    refs = resolve_folder([dataset_root], "pets/n01440764")
    assert refs[0] == ImageRef(
        image_id="folder:pets/n01440764/a.JPG",
        dataset="folder",
        key="pets/n01440764/a.JPG",
        path=dataset_root / "pets" / "n01440764" / "a.JPG",
        ground_truth=0,
        real_labels=None,
    )


def test_folder_unknown_wnid_has_no_ground_truth(tmp_path: Path) -> None:
    root = tmp_path / "root"
    _write_png(root / "set" / "n99999999" / "x.png")
    _write_png(root / "set" / "n99999999_thing.png")
    refs = resolve_folder([root], "set")
    assert [ref.ground_truth for ref in refs] == [None, None]


@pytest.mark.parametrize("path", ["", "."])
def test_folder_whole_root(dataset_root: Path, path: str) -> None:
    refs = resolve_folder([dataset_root], path)
    assert len(refs) == 5
    assert refs[0].key == "pets/n01440764/a.JPG"


def test_folder_uses_first_root_that_has_path(tmp_path: Path) -> None:
    first = tmp_path / "first"
    second = tmp_path / "second"
    first.mkdir()
    _write_png(second / "only" / "x.png")
    refs = resolve_folder([first, second], "only")
    assert [ref.path for ref in refs] == [second / "only" / "x.png"]


@pytest.mark.parametrize(
    "path",
    ["../outside", "pets/../../outside", "/etc", "pets/../.."],
)
def test_folder_rejects_escaping_paths(dataset_root: Path, path: str) -> None:
    (dataset_root.parent / "outside").mkdir()
    with pytest.raises(InvalidFieldError) as raised:
        resolve_folder([dataset_root], path)
    assert raised.value.field == "path"


def test_folder_rejects_symlink_out_of_root(dataset_root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    _write_png(outside / "secret.png")
    os.symlink(outside, dataset_root / "link")
    with pytest.raises(InvalidFieldError) as raised:
        resolve_folder([dataset_root], "link")
    assert raised.value.field == "path"


def test_folder_rejects_path_through_symlink(
    dataset_root: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    _write_png(outside / "inner" / "secret.png")
    os.symlink(outside, dataset_root / "link")
    with pytest.raises(InvalidFieldError) as raised:
        resolve_folder([dataset_root], "link/inner")
    assert raised.value.field == "path"


def test_folder_skips_file_symlinks_out_of_root(
    dataset_root: Path, tmp_path: Path
) -> None:
    secret = _write_png(tmp_path / "outside" / "secret.png")
    os.symlink(secret, dataset_root / "pets" / "leak.png")
    keys = [ref.key for ref in resolve_folder([dataset_root], "pets")]
    assert "pets/leak.png" not in keys
    assert len(keys) == 5


def test_folder_accepts_symlink_inside_root(dataset_root: Path) -> None:
    os.symlink(dataset_root / "pets" / "n01440764", dataset_root / "tench")
    refs = resolve_folder([dataset_root], "tench")
    assert [ref.key for ref in refs] == ["tench/a.JPG", "tench/b.png"]


def test_folder_missing_path(dataset_root: Path) -> None:
    with pytest.raises(InvalidFieldError) as raised:
        resolve_folder([dataset_root], "absent")
    assert raised.value.field == "path"


def test_folder_path_that_is_a_file(dataset_root: Path) -> None:
    with pytest.raises(InvalidFieldError) as raised:
        resolve_folder([dataset_root], "pets/unlabelled.webp")
    assert raised.value.field == "path"


def test_folder_without_roots() -> None:
    with pytest.raises(InvalidFieldError) as raised:
        resolve_folder([], "pets")
    assert raised.value.field == "dataset"
    assert "FAILCAT_DATASET_ROOTS" in raised.value.message


def test_folder_on_real_samples(test_data_dir: Path) -> None:
    refs = resolve_folder([test_data_dir], "imagenet-samples")
    with (test_data_dir / "imagenet-samples" / "MANIFEST.csv").open(
        newline=""
    ) as handle:
        expected = {
            f"imagenet-samples/{row['file']}": int(row["gt"])
            for row in csv.DictReader(handle)
        }
    assert len(refs) == 1000
    assert {ref.key: ref.ground_truth for ref in refs} == expected


# image ids


def test_image_id_of_val_image(tmp_path: Path, val_dir: Path) -> None:
    settings = _settings(tmp_path, val_dir, [])
    ref = ref_for_image_id(settings, "imagenet-val:ILSVRC2012_val_00000010")
    assert ref.path == val_dir / _val_name(10)
    assert ref.ground_truth == labels.val_ground_truth(10)


def test_image_id_of_val_image_in_class_folder(tmp_path: Path) -> None:
    folder = tmp_path / "val"
    wnid = labels.wnid(labels.val_ground_truth(7))
    _write_png(folder / wnid / _val_name(7))
    settings = _settings(tmp_path, folder, [])
    ref = ref_for_image_id(settings, "imagenet-val:ILSVRC2012_val_00000007")
    assert ref.path == folder / wnid / _val_name(7)


def test_image_id_round_trips_resolved_refs(
    tmp_path: Path, val_dir: Path, dataset_root: Path
) -> None:
    settings = _settings(tmp_path, val_dir, [dataset_root])
    refs = resolve_folder([dataset_root], "pets")
    refs += resolve_imagenet_val(val_dir, 1, 10).refs
    for ref in refs:
        assert ref_for_image_id(settings, ref.image_id) == ref


@pytest.mark.parametrize(
    "image_id",
    [
        "imagenet-val:ILSVRC2012_val_00000002",
        "imagenet-val:ILSVRC2012_val_00000000",
        "imagenet-val:ILSVRC2012_val_00050001",
        "imagenet-val:../val/ILSVRC2012_val_00000001",
        "imagenet-val:ILSVRC2012_val_00000001.JPEG",
        "folder:pets/absent.png",
        "folder:pets/./unlabelled.webp",
        "folder:pets//unlabelled.webp",
        "folder:pets/notes.txt",
        "folder:pets",
        "folder:",
        "cifar:0001",
        "ILSVRC2012_val_00000001",
    ],
)
def test_unknown_image_ids(
    tmp_path: Path, val_dir: Path, dataset_root: Path, image_id: str
) -> None:
    settings = _settings(tmp_path, val_dir, [dataset_root])
    with pytest.raises(NotFoundError):
        ref_for_image_id(settings, image_id)


@pytest.mark.parametrize(
    "key",
    ["../outside/secret.png", "pets/../../outside/secret.png", "/outside/secret.png"],
)
def test_image_id_rejects_escaping_paths(
    tmp_path: Path, dataset_root: Path, key: str
) -> None:
    secret = _write_png(tmp_path / "outside" / "secret.png")
    settings = _settings(tmp_path, None, [dataset_root])
    if key.startswith("/"):
        key = str(secret)
    with pytest.raises(NotFoundError):
        ref_for_image_id(settings, f"folder:{key}")


def test_image_id_rejects_symlink_out_of_root(
    tmp_path: Path, dataset_root: Path
) -> None:
    secret = _write_png(tmp_path / "outside" / "secret.png")
    os.symlink(secret, dataset_root / "leak.png")
    settings = _settings(tmp_path, None, [dataset_root])
    with pytest.raises(NotFoundError):
        ref_for_image_id(settings, "folder:leak.png")


def test_image_id_without_val_folder(tmp_path: Path) -> None:
    settings = _settings(tmp_path, None, [])
    with pytest.raises(NotFoundError, match="FAILCAT_IMAGENET_VAL_DIR"):
        ref_for_image_id(settings, "imagenet-val:ILSVRC2012_val_00000001")
