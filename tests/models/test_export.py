"""Export, manifest and ensemble identity."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import onnx
import pytest

from models.export import export_ensemble
from models.manifest import ensemble_id, manifest_problems, read_manifest
from models.registry import MEMBERS, get_member


def test_registry_members():
    assert [(m.name, m.input_size) for m in MEMBERS] == [
        ("lite0", 224),
        ("lite1", 240),
        ("lite2", 260),
    ]
    for member in MEMBERS:
        assert member.weights_path().is_file()
        assert member.preprocessing.resize_shorter == member.input_size + 32


def test_unknown_member():
    with pytest.raises(KeyError, match="lite0"):
        get_member("resnet50")


def test_manifest_matches_files(model_dir: Path):
    assert manifest_problems(model_dir) == []
    manifest = read_manifest(model_dir)
    assert manifest is not None
    for entry in manifest.members:
        digest = hashlib.sha256((model_dir / entry.file).read_bytes()).hexdigest()
        assert entry.sha256 == digest
        assert entry.opset == 18


def test_identity_is_canonical_json(model_dir: Path):
    raw = json.loads((model_dir / "manifest.json").read_text())
    identity = [
        {
            "name": m["name"],
            "sha256": m["sha256"],
            "input_size": m["input_size"],
            "preprocessing": m["preprocessing"],
        }
        for m in raw["members"]
    ]
    text = json.dumps(identity, sort_keys=True, separators=(",", ":"))
    expected = hashlib.sha256(text.encode()).hexdigest()
    assert raw["ensemble_id"] == expected
    assert ensemble_id(read_manifest(model_dir).members) == expected


def test_onnx_graph_dynamic_batch(model_dir: Path):
    for member in MEMBERS:
        model = onnx.load(str(model_dir / member.onnx_file))
        onnx.checker.check_model(model)
        dims = model.graph.input[0].type.tensor_type.shape.dim
        assert dims[0].dim_param != ""
        assert [d.dim_value for d in dims[1:]] == [
            3,
            member.input_size,
            member.input_size,
        ]


def test_parity_recorded(model_dir: Path):
    parity = read_manifest(model_dir).details["parity"]
    assert [p["member"] for p in parity] == ["lite0", "lite1", "lite2"]
    for result in parity:
        assert result["max_abs_logit_difference"] < 1e-3
        assert result["top1_agreement"] == 1.0


def test_export_skipped_when_current(model_dir: Path):
    before = {p.name: p.stat().st_mtime_ns for p in model_dir.glob("*.onnx")}
    lines: list[str] = []
    export_ensemble(model_dir, report=lines.append)
    after = {p.name: p.stat().st_mtime_ns for p in model_dir.glob("*.onnx")}
    assert before == after
    assert any("skipped" in line for line in lines)


def test_tampered_file_detected(model_dir: Path, tmp_path: Path):
    copy = tmp_path / "models"
    shutil.copytree(model_dir, copy)
    target = copy / "lite1.onnx"
    data = bytearray(target.read_bytes())
    data[-1] ^= 0xFF
    target.write_bytes(bytes(data))
    problems = manifest_problems(copy)
    assert len(problems) == 1
    assert "lite1" in problems[0]


def test_missing_file_detected(model_dir: Path, tmp_path: Path):
    copy = tmp_path / "models"
    shutil.copytree(model_dir, copy)
    (copy / "lite2.onnx").unlink()
    assert any("lite2" in p and "missing" in p for p in manifest_problems(copy))


def test_no_manifest_detected(tmp_path: Path):
    assert manifest_problems(tmp_path) != []


def test_export_has_no_source_paths(model_dir: Path):
    for member in MEMBERS:
        data = (model_dir / member.onnx_file).read_bytes()
        assert b"site-packages" not in data
