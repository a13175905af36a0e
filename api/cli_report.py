"""The ``failcat report`` command: a job's example sheet and category tables."""

from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path
from typing import Any

from services.config import Settings

EXAMPLES_FILE = "examples.png"
STATS_MARKDOWN_FILE = "stats.md"
STATS_CSV_FILE = "stats.csv"


def _distributions(suggestion_repository: Any, job_id: int) -> list[tuple[str, Any]]:
    """Return (source, distribution) pairs: suggestions, then each annotator."""
    from services import stats

    counts = suggestion_repository.category_counts(job_id)
    tables = [("suggested", stats.distribution_from_counts(counts))]
    by_annotator: dict[str, list[str]] = {}
    annotations = suggestion_repository.annotated_categories(job_id)
    for labels in annotations.values():
        for annotator, category in labels.items():
            by_annotator.setdefault(annotator, []).append(category)
    for annotator in sorted(by_annotator):
        distribution = stats.category_distribution(by_annotator[annotator])
        tables.append((f"annotator:{annotator}", distribution))
    return tables


def stats_markdown(tables: list[tuple[str, Any]]) -> str:
    """Render one Markdown table per source, each under a heading."""
    from services import stats

    parts = []
    for source, distribution in tables:
        parts.append(f"## {source} ({distribution.total} failures)\n")
        parts.append(stats.to_markdown(distribution))
    return "\n".join(parts)


def stats_csv(tables: list[tuple[str, Any]]) -> str:
    """Render all sources in one CSV, with a first column naming the source."""
    from services import stats

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["source", *stats.TABLE_COLUMNS])
    for source, distribution in tables:
        for row in distribution.rows:
            values = row.as_dict()
            writer.writerow([source, *(values[c] for c in stats.TABLE_COLUMNS)])
    return buffer.getvalue()


def cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    from services import reports
    from services.storage.engine import make_engine
    from services.storage.repositories import Repository
    from services.storage.suggestion_repository import SuggestionRepository

    engine = make_engine(settings.effective_database_url)
    try:
        repository = Repository(engine)
        suggestion_repository = SuggestionRepository(engine)
        png = reports.example_sheet_png(
            repository, suggestion_repository, settings, args.job, args.per_category
        )
        tables = _distributions(suggestion_repository, args.job)
        examples = reports.collect_examples(
            suggestion_repository, settings, args.job, args.per_category
        )
    finally:
        engine.dispose()
    unfound = [e.image_id for row in examples.values() for e in row if e.path is None]
    if unfound:
        print(
            f"warning: {len(unfound)} example images were not found (first: "
            f"{unfound[0]}) and are drawn as grey boxes; check "
            "FAILCAT_IMAGENET_VAL_DIR and FAILCAT_DATASET_ROOTS",
            file=sys.stderr,
        )
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / EXAMPLES_FILE).write_bytes(png)
        (out / STATS_MARKDOWN_FILE).write_text(stats_markdown(tables), encoding="utf-8")
        (out / STATS_CSV_FILE).write_text(stats_csv(tables), encoding="utf-8")
    except OSError as exc:
        print(f"failcat: could not write the report to {out}: {exc}", file=sys.stderr)
        return 1
    print(
        f"wrote {EXAMPLES_FILE}, {STATS_MARKDOWN_FILE} and {STATS_CSV_FILE} "
        f"for job {args.job} to {out}"
    )
    return 0


def register_report(commands: Any) -> None:
    """Add ``failcat report`` to the command line's subcommands."""
    parser = commands.add_parser(
        "report",
        help="write a job's example sheet and category tables to a folder",
    )
    parser.add_argument("--job", type=int, required=True, help="id of the job")
    parser.add_argument(
        "--out", required=True, help="folder for examples.png, stats.md and stats.csv"
    )
    parser.add_argument(
        "--per-category",
        type=int,
        default=5,
        help="failures shown per category on the sheet, from 1 to 20 (default 5)",
    )
    parser.set_defaults(handler=cmd_report)
