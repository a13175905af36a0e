"""SQLAlchemy Core tables of failcat's database.

The migrations in ``migrations/versions`` create the same schema; change both
together.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

JOB_STATES = ("queued", "running", "done", "failed", "cancelled")
TERMINAL_JOB_STATES = frozenset({"done", "failed", "cancelled"})
ANALYSIS_STATES = ("pending", "running", "done")
CRITERIA = ("top1", "top5")

# JSON in both dialects, stored as JSONB on PostgreSQL.
JSONType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
Timestamp = sa.DateTime(timezone=True)

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s_%(column_1_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _one_of(column: str, values: tuple[str, ...]) -> str:
    listed = ", ".join(f"'{value}'" for value in values)
    return f"{column} IN ({listed})"


jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("dataset", sa.String(32), nullable=False),
    # 1-based, inclusive validation indices of an imagenet-val job.
    sa.Column("start", sa.Integer),
    sa.Column("stop", sa.Integer),
    # Root-relative folder of a folder job.
    sa.Column("path", sa.Text),
    sa.Column("criterion", sa.String(8), nullable=False, server_default="top1"),
    sa.Column("state", sa.String(16), nullable=False, server_default="queued"),
    sa.Column(
        "analysis_state", sa.String(16), nullable=False, server_default="pending"
    ),
    # Size of the requested range, and how many of its indices have no file.
    sa.Column("total", sa.Integer, nullable=False, server_default="0"),
    sa.Column("missing", sa.Integer, nullable=False, server_default="0"),
    sa.Column("chunks_total", sa.Integer, nullable=False, server_default="0"),
    sa.Column("chunks_done", sa.Integer, nullable=False, server_default="0"),
    sa.Column("error", sa.Text),
    sa.Column("ensemble_id", sa.String(64)),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("started_at", Timestamp),
    sa.Column("finished_at", Timestamp),
    sa.Column("metrics", JSONType),
    sa.CheckConstraint(_one_of("criterion", CRITERIA), name="criterion"),
    sa.CheckConstraint(_one_of("state", JOB_STATES), name="state"),
    sa.CheckConstraint(_one_of("analysis_state", ANALYSIS_STATES), name="analysis"),
)

images = sa.Table(
    "images",
    metadata,
    # The image id, such as imagenet-val:ILSVRC2012_val_00000001.
    sa.Column("id", sa.String(1024), primary_key=True),
    sa.Column("dataset", sa.String(32), nullable=False),
    sa.Column("key", sa.String(1024), nullable=False),
    sa.Column("ground_truth", sa.Integer),
    # ImageNet ReaL classes, an empty list when none fits; null when unknown.
    sa.Column("real_labels", JSONType),
    sa.Column("width", sa.Integer),
    sa.Column("height", sa.Integer),
)

predictions = sa.Table(
    "predictions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "job_id",
        sa.Integer,
        sa.ForeignKey("jobs.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("image_id", sa.String(1024), sa.ForeignKey("images.id"), nullable=False),
    # The ensemble's top-1, the same as top5[0].
    sa.Column("predicted_class", sa.Integer, nullable=False),
    sa.Column("top5", JSONType, nullable=False),
    sa.Column("top5_probabilities", JSONType, nullable=False),
    # Averaged softmax probability of the ground truth and its 1-based rank
    # among the ensemble's 1,000 classes; null without a ground truth.
    sa.Column("gt_probability", sa.Float),
    sa.Column("gt_rank", sa.Integer),
    # Failure flags derived from top5 and the image's ground truth; null
    # without a ground truth, so such images are never failures.
    sa.Column("is_top1_failure", sa.Boolean),
    sa.Column("is_top5_failure", sa.Boolean),
    # Per member name: top1, top1_probability, gt_probability and
    # ensemble_top1_probability.
    sa.Column("members", JSONType, nullable=False),
    sa.Column("ensemble_id", sa.String(64), nullable=False),
    # Entropy of the averaged softmax, in nats.
    sa.Column("entropy", sa.Float, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.UniqueConstraint("job_id", "image_id"),
    sa.Index("ix_predictions_job_top1_failure", "job_id", "is_top1_failure"),
    sa.Index("ix_predictions_job_top5_failure", "job_id", "is_top5_failure"),
)

image_errors = sa.Table(
    "image_errors",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "job_id",
        sa.Integer,
        sa.ForeignKey("jobs.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("image_id", sa.String(1024), sa.ForeignKey("images.id"), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.UniqueConstraint("job_id", "image_id"),
)

chunk_runs = sa.Table(
    "chunk_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "job_id",
        sa.Integer,
        sa.ForeignKey("jobs.id", ondelete="CASCADE"),
        nullable=False,
    ),
    # 0-based position of the chunk in the job.
    sa.Column("chunk", sa.Integer, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("done", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("last_attempt_at", Timestamp),
    sa.Column("finished_at", Timestamp),
    sa.UniqueConstraint("job_id", "chunk"),
)

CATEGORY_KEYS = (
    "similar_labels",
    "not_salient_gt",
    "challenging_image",
    "incorrect_gt",
    "incorrect_pc",
)
ANNOTATION_ACTIONS = ("created", "changed", "retracted")

# The current annotation of one annotator for one failure (job, image).
# A retracted annotation keeps its row with retracted_at set.
annotations = sa.Table(
    "annotations",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "job_id",
        sa.Integer,
        sa.ForeignKey("jobs.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("image_id", sa.String(1024), sa.ForeignKey("images.id"), nullable=False),
    sa.Column("annotator", sa.String(128), nullable=False),
    sa.Column("category", sa.String(32), nullable=False),
    sa.Column("note", sa.Text),
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.Column("retracted_at", Timestamp),
    sa.UniqueConstraint("job_id", "image_id", "annotator"),
    sa.CheckConstraint(_one_of("category", CATEGORY_KEYS), name="category"),
)

# Every change to an annotation, in order: nothing an annotator recorded is lost.
annotation_events = sa.Table(
    "annotation_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "annotation_id",
        sa.Integer,
        sa.ForeignKey("annotations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("category", sa.String(32), nullable=False),
    sa.Column("note", sa.Text),
    sa.Column("recorded_at", Timestamp, nullable=False),
    sa.UniqueConstraint("annotation_id", "version"),
    sa.CheckConstraint(_one_of("action", ANNOTATION_ACTIONS), name="action"),
)

samples = sa.Table(
    "samples",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "job_id",
        sa.Integer,
        sa.ForeignKey("jobs.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("seed", sa.Integer, nullable=False),
    sa.Column("created_by", sa.String(128)),
    sa.Column("created_at", Timestamp, nullable=False),
)

sample_items = sa.Table(
    "sample_items",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "sample_id",
        sa.Integer,
        sa.ForeignKey("samples.id", ondelete="CASCADE"),
        nullable=False,
    ),
    # 0-based order in which reviewers see the items.
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("image_id", sa.String(1024), sa.ForeignKey("images.id"), nullable=False),
    sa.UniqueConstraint("sample_id", "position"),
    sa.UniqueConstraint("sample_id", "image_id"),
)

# The suggested category of a failure and the evidence behind it.
suggestions = sa.Table(
    "suggestions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "job_id",
        sa.Integer,
        sa.ForeignKey("jobs.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("image_id", sa.String(1024), sa.ForeignKey("images.id"), nullable=False),
    sa.Column("category", sa.String(32), nullable=False),
    sa.Column("confidence", sa.Float, nullable=False),
    sa.Column("decided_by", JSONType, nullable=False),
    sa.Column("evidence", JSONType, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.UniqueConstraint("job_id", "image_id"),
    sa.CheckConstraint(_one_of("category", CATEGORY_KEYS), name="category"),
)
