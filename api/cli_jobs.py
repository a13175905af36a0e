"""Commands that work on datasets and annotations: evaluate, stats, report."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from services.config import Settings


class ProgressBar:
    """A one-line progress bar on stderr, redrawn at most ten times a second."""

    def __init__(self, label: str, width: int = 30) -> None:
        self.label = label
        self.width = width
        self.started = time.monotonic()
        self.last_draw = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - self.last_draw < 0.1:
            return
        self.last_draw = now
        fraction = done / total if total else 1.0
        filled = int(self.width * fraction)
        rate = done / max(now - self.started, 1e-9)
        sys.stderr.write(
            f"\r{self.label} [{'#' * filled}{'.' * (self.width - filled)}] "
            f"{done}/{total} {rate:.1f} images/s"
        )
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def cmd_evaluate(args: argparse.Namespace, settings: Settings) -> int:
    from services.ensemble import Ensemble
    from services.evaluate import evaluate, resolve_refs, with_batch_size

    settings = with_batch_size(settings, args.batch_size)
    refs, total, missing = resolve_refs(
        settings, args.dataset, args.start, args.stop, args.path
    )
    ensemble = Ensemble.load(
        settings.model_dir, settings.execution_providers, settings.intra_op_threads
    )
    started = time.monotonic()
    result = evaluate(
        ensemble,
        settings,
        refs,
        criterion=args.criterion,
        total=total,
        missing=missing,
        progress=ProgressBar(f"{args.dataset}"),
    )
    elapsed = time.monotonic() - started
    report: dict[str, Any] = {
        "dataset": args.dataset,
        "criterion": args.criterion,
        "counts": {
            "total": result.total,
            "done": len(refs),
            "failed": len(result.errors),
            "missing": result.missing,
        },
        "images_per_second": round(len(refs) / elapsed, 2) if elapsed else None,
        "metrics": result.metrics,
        "execution_provider": ensemble.execution_provider,
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    metrics = result.metrics
    print(
        f"images evaluated: {metrics['images']} ({result.missing} missing, "
        f"{len(result.errors)} unreadable)"
    )
    for name in ("top1_error", "top5_error", "real_top1_accuracy"):
        value = metrics[name]
        print(f"{name:>20}: {'n/a' if value is None else f'{value:.4f}'}")
    for member, values in metrics["members"].items():
        print(f"{member + ' top1_error':>20}: {values['top1_error']:.4f}")
    print(f"{'failures':>20}: {metrics['failures']} ({args.criterion})")
    print(f"{'images/s':>20}: {report['images_per_second']}")
    return 0


def register_evaluate(commands: Any) -> None:
    parser = commands.add_parser(
        "evaluate", help="run the ensemble over a dataset in this process"
    )
    parser.add_argument(
        "--dataset", default="imagenet-val", help="imagenet-val (default) or folder"
    )
    parser.add_argument("--start", type=int, help="first validation index (1-based)")
    parser.add_argument("--stop", type=int, help="last validation index (inclusive)")
    parser.add_argument("--path", help="folder relative to FAILCAT_DATASET_ROOTS")
    parser.add_argument(
        "--criterion", default="top1", choices=["top1", "top5"], help="failure rule"
    )
    parser.add_argument("--batch-size", type=int, help="images per inference batch")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(handler=cmd_evaluate)


# Each entry takes the subparsers object and adds one command.
REGISTER: list[Any] = [register_evaluate]
