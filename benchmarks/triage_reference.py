"""Check suggested categories against the crowd-checked label errors of cleanlab.

Runs the ensemble in this process over the validation images of the test data
folder and builds the triage evidence of every top-1 failure as a job does.
It prints how often ``incorrect_gt`` is suggested for failures whose label the
crowd workers of Northcutt, Athalye and Mueller, "Pervasive Label Errors in Test
Sets Destabilize Machine Learning Benchmarks" (2021) confirmed as wrong or as
correct. It also prints the distribution of suggested categories beside the 400
failures of Lee, Agarwal and Kim, "Why Do Deep Neural Networks Still Not
Recognize These Images? A Qualitative Analysis on Failure Cases of ImageNet
Classification".

Only this script reads the cleanlab file. The suggestion code never does.

    FAILCAT_TEST_DATA=<test data folder> python benchmarks/triage_reference.py \\
        --model-dir .failcat/test-models
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path

from services import analysis, datasets, labels
from services.categories import CATEGORIES
from services.config import load_settings
from services.ensemble import Ensemble
from services.jobs import predict_images
from services.storage.repositories import Failure


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--test-data",
        default=os.environ.get("FAILCAT_TEST_DATA"),
        help="test data folder with imagenet-val/ and labels/ (FAILCAT_TEST_DATA)",
    )
    parser.add_argument(
        "--model-dir",
        help="folder of the exported ensemble (default: FAILCAT_MODEL_DIR)",
    )
    parser.add_argument("--start", type=int, default=1, help="first validation index")
    parser.add_argument("--stop", type=int, default=50000, help="last validation index")
    return parser.parse_args()


def _failures(
    ensemble: Ensemble, settings, refs: list[datasets.ImageRef]
) -> list[Failure]:
    by_id = {ref.image_id: ref for ref in refs}
    rows, errors = predict_images(ensemble, settings, list(by_id))
    if errors:
        print(f"{len(errors)} images could not be predicted", file=sys.stderr)
    failures = []
    for row in rows:
        ref = by_id[row.image_id]
        if ref.ground_truth is None or row.top5[0] == ref.ground_truth:
            continue
        failures.append(
            Failure(
                job_id=0,
                image_id=row.image_id,
                dataset=ref.dataset,
                key=ref.key,
                ground_truth=ref.ground_truth,
                real_labels=ref.real_labels,
                width=None,
                height=None,
                predicted_class=int(row.top5[0]),
                top5=list(row.top5),
                top5_probabilities=list(row.top5_probabilities),
                gt_probability=row.gt_probability,
                gt_rank=row.gt_rank,
                members=dict(row.members),
                entropy=row.entropy,
                ensemble_id=row.ensemble_id,
            )
        )
    return failures


def _cleanlab_verdicts(path: Path) -> dict[int, str]:
    """Map validation indices to ``error``, ``correct`` or ``undecided``."""
    with path.open(encoding="utf-8") as handle:
        records = json.load(handle)
    verdicts = {}
    for record in records:
        votes = record["votes"]
        if votes["guessed"] > votes["given"]:
            verdict = "error"
        elif votes["given"] > votes["guessed"]:
            verdict = "correct"
        else:
            verdict = "undecided"
        verdicts[int(record["val_index"])] = verdict
    return verdicts


def _rate(part: int, whole: int) -> str:
    return f"{part}/{whole} ({part / whole:.1%})" if whole else f"{part}/0"


def main() -> int:
    args = _parse_args()
    if not args.test_data:
        print("set FAILCAT_TEST_DATA or pass --test-data", file=sys.stderr)
        return 2
    data = Path(args.test_data)
    settings = replace(
        load_settings(),
        imagenet_val_dir=data / "imagenet-val",
        dataset_roots=(data,),
    )
    model_dir = Path(args.model_dir) if args.model_dir else settings.model_dir
    ensemble = Ensemble.load(
        model_dir, settings.execution_providers, settings.intra_op_threads
    )
    found = datasets.resolve_imagenet_val(
        settings.imagenet_val_dir, args.start, args.stop
    )
    failures = _failures(ensemble, settings, found.refs)

    categories: dict[str, str] = {}
    for failure in failures:
        quality = analysis.measure_failure_image(settings, failure.image_id)
        row = analysis.suggestion_row(
            failure.image_id, analysis.build_evidence(failure, quality)
        )
        categories[failure.image_id] = row.category

    verdicts = _cleanlab_verdicts(data / "labels" / "cleanlab_imagenet_mturk.json")
    checked: Counter[str] = Counter()
    incorrect_gt: Counter[str] = Counter()
    for failure in failures:
        index = labels.val_index_for_file_name(f"{failure.key}.JPEG")
        verdict = verdicts.get(index) if index is not None else None
        if verdict is None:
            continue
        checked[verdict] += 1
        incorrect_gt[verdict] += categories[failure.image_id] == "incorrect_gt"

    print(f"images predicted: {len(found.refs)}, top-1 failures: {len(failures)}")
    print(f"failures in the cleanlab list: {sum(checked.values())}")
    print(
        "incorrect_gt suggested for confirmed label errors: "
        + _rate(incorrect_gt["error"], checked["error"])
    )
    print(
        "incorrect_gt suggested for confirmed correct labels: "
        + _rate(incorrect_gt["correct"], checked["correct"])
    )
    print(
        "incorrect_gt suggested for undecided labels: "
        + _rate(incorrect_gt["undecided"], checked["undecided"])
    )
    counts = Counter(categories.values())
    print()
    print("| id | category | suggested | rate | paper count | paper rate |")
    print("|---:|---|---:|---:|---:|---:|")
    for category in CATEGORIES:
        count = counts[category.key]
        rate = count / len(failures) if failures else 0.0
        print(
            f"| {category.id} | `{category.key}` | {count} | {rate:.1%} | "
            f"{category.paper_count} | {category.paper_rate:.1%} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
