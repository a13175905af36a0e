"""The manifest of exported ONNX files, which is the ensemble's identity."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.registry import MEMBERS, Member

MANIFEST_FILE = "manifest.json"
OPSET = 18
# Bumped whenever the export itself changes, so older exports are redone.
EXPORT_FORMAT = 2


def sha256_file(path: Path) -> str:
    """Return the hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class MemberEntry:
    """One exported member as the manifest records it."""

    name: str
    file: str
    sha256: str
    opset: int
    input_size: int
    preprocessing: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "file": self.file,
            "sha256": self.sha256,
            "opset": self.opset,
            "input_size": self.input_size,
            "preprocessing": self.preprocessing,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> MemberEntry:
        return cls(
            name=raw["name"],
            file=raw["file"],
            sha256=raw["sha256"],
            opset=int(raw["opset"]),
            input_size=int(raw["input_size"]),
            preprocessing=dict(raw["preprocessing"]),
        )


def ensemble_id(entries: list[MemberEntry]) -> str:
    """Return the sha256 of the member entries as canonical JSON.

    Only the name, file sha256, input size and preprocessing enter the
    identity, with sorted keys and no spaces, so the same files exported on
    two machines give the same id.
    """
    identity = [
        {
            "name": entry.name,
            "sha256": entry.sha256,
            "input_size": entry.input_size,
            "preprocessing": entry.preprocessing,
        }
        for entry in entries
    ]
    canonical = json.dumps(identity, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Manifest:
    """The exported ensemble: one entry per member, in registry order."""

    members: list[MemberEntry]
    details: dict[str, Any]

    @property
    def ensemble_id(self) -> str:
        return ensemble_id(self.members)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ensemble_id": self.ensemble_id,
            "members": [entry.as_dict() for entry in self.members],
            **self.details,
        }


def write_manifest(model_dir: Path, manifest: Manifest) -> Path:
    """Write ``manifest.json`` atomically and return its path."""
    path = model_dir / MANIFEST_FILE
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(manifest.as_dict(), indent=2, sort_keys=True) + "\n")
    tmp.replace(path)
    return path


def read_manifest(model_dir: Path) -> Manifest | None:
    """Return the manifest in ``model_dir``, or None when there is none."""
    path = model_dir / MANIFEST_FILE
    if not path.is_file():
        return None
    raw = json.loads(path.read_text())
    members = [MemberEntry.from_dict(item) for item in raw.get("members", [])]
    details = {k: v for k, v in raw.items() if k not in ("members", "ensemble_id")}
    return Manifest(members=members, details=details)


def expected_entry_fields(member: Member) -> dict[str, Any]:
    """Return the fields a member's manifest entry must have, from the registry."""
    return {
        "name": member.name,
        "file": member.onnx_file,
        "opset": OPSET,
        "input_size": member.input_size,
        "preprocessing": member.preprocessing.as_dict(),
    }


def manifest_problems(
    model_dir: Path, members: tuple[Member, ...] = MEMBERS
) -> list[str]:
    """List why the files in ``model_dir`` do not match the registry.

    An empty list means every member's ONNX file is present, its sha256 equals
    the manifest's, and the manifest agrees with the registry.
    """
    manifest = read_manifest(model_dir)
    if manifest is None:
        return [f"no {MANIFEST_FILE} in {model_dir}"]
    problems = []
    found_format = manifest.details.get("export_format")
    if found_format != EXPORT_FORMAT:
        problems.append(
            f"export format {found_format} in the manifest, this version writes "
            f"{EXPORT_FORMAT}"
        )
    by_name = {entry.name: entry for entry in manifest.members}
    if set(by_name) != {m.name for m in members}:
        problems.append(
            f"manifest lists members {sorted(by_name)}, "
            f"registry has {sorted(m.name for m in members)}"
        )
    for member in members:
        entry = by_name.get(member.name)
        if entry is None:
            continue
        expected = expected_entry_fields(member)
        actual = {key: getattr(entry, key) for key in expected}
        if actual != expected:
            problems.append(f"{member.name}: manifest entry differs from the registry")
        path = model_dir / entry.file
        if not path.is_file():
            problems.append(f"{member.name}: {path} is missing")
        elif sha256_file(path) != entry.sha256:
            problems.append(
                f"{member.name}: sha256 of {path} differs from the manifest"
            )
    return problems
