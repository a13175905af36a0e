"""The ``failcat stats`` command: the per-category table of a job's annotations."""

from __future__ import annotations

import argparse
import logging
from typing import Any

import sqlalchemy as sa

from services import stats_report
from services.config import Settings
from services.errors import FailcatError
from services.storage.annotation_repository import AnnotationRepository
from services.storage.engine import make_engine
from services.storage.repositories import Repository

logger = logging.getLogger(__name__)


def cmd_stats(args: argparse.Namespace, settings: Settings) -> int:
    """Print the statistics table of a job, a sample or one annotator."""
    engine = make_engine(settings.effective_database_url)
    try:
        report = stats_report.build_report(
            Repository(engine),
            AnnotationRepository(engine),
            job_id=args.job,
            sample_id=args.sample,
            annotator=args.annotator,
        )
    except sa.exc.OperationalError as exc:
        raise FailcatError(
            f"the database could not be read: {exc.orig}; check "
            "FAILCAT_DATABASE_URL, or start the service once with `failcat up` "
            "so that it creates the tables"
        ) from exc
    finally:
        engine.dispose()
    print(stats_report.render_table(report, args.format), end="")
    return 0


def register_stats(commands: Any) -> None:
    """Add ``failcat stats`` to the command line's subparsers."""
    parser = commands.add_parser(
        "stats", help="print the per-category statistics of a job's annotations"
    )
    parser.add_argument("--job", type=int, required=True, help="job id")
    parser.add_argument(
        "--sample", type=int, help="only the failures of this sample of the job"
    )
    parser.add_argument("--annotator", help="only this annotator's annotations")
    parser.add_argument(
        "--format",
        default="text",
        choices=stats_report.TABLE_FORMATS,
        help="text (default, with chi-square and agreement), csv or md",
    )
    parser.set_defaults(handler=cmd_stats)
