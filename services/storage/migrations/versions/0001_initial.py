"""Create jobs, images, predictions, image errors and chunk runs.

Revision ID: 0001
Revises:
Create Date: 2025-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The schema as of this revision, written out so that later changes to
# services/storage/tables.py do not alter what this migration does.
JSONType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
Timestamp = sa.DateTime(timezone=True)


def _job_fk(table: str) -> sa.Column:
    return sa.Column(
        "job_id",
        sa.Integer,
        sa.ForeignKey("jobs.id", name=f"fk_{table}_job_id_jobs", ondelete="CASCADE"),
        nullable=False,
    )


def _image_fk(table: str) -> sa.Column:
    return sa.Column(
        "image_id",
        sa.String(1024),
        sa.ForeignKey("images.id", name=f"fk_{table}_image_id_images"),
        nullable=False,
    )


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("dataset", sa.String(32), nullable=False),
        sa.Column("start", sa.Integer),
        sa.Column("stop", sa.Integer),
        sa.Column("path", sa.Text),
        sa.Column("criterion", sa.String(8), nullable=False, server_default="top1"),
        sa.Column("state", sa.String(16), nullable=False, server_default="queued"),
        sa.Column(
            "analysis_state", sa.String(16), nullable=False, server_default="pending"
        ),
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
        sa.PrimaryKeyConstraint("id", name="pk_jobs"),
        sa.CheckConstraint("criterion IN ('top1', 'top5')", name="ck_jobs_criterion"),
        sa.CheckConstraint(
            "state IN ('queued', 'running', 'done', 'failed', 'cancelled')",
            name="ck_jobs_state",
        ),
        sa.CheckConstraint(
            "analysis_state IN ('pending', 'running', 'done')",
            name="ck_jobs_analysis",
        ),
    )
    op.create_table(
        "images",
        sa.Column("id", sa.String(1024), nullable=False),
        sa.Column("dataset", sa.String(32), nullable=False),
        sa.Column("key", sa.String(1024), nullable=False),
        sa.Column("ground_truth", sa.Integer),
        sa.Column("real_labels", JSONType),
        sa.Column("width", sa.Integer),
        sa.Column("height", sa.Integer),
        sa.PrimaryKeyConstraint("id", name="pk_images"),
    )
    op.create_table(
        "predictions",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        _job_fk("predictions"),
        _image_fk("predictions"),
        sa.Column("predicted_class", sa.Integer, nullable=False),
        sa.Column("top5", JSONType, nullable=False),
        sa.Column("top5_probabilities", JSONType, nullable=False),
        sa.Column("gt_probability", sa.Float),
        sa.Column("gt_rank", sa.Integer),
        sa.Column("is_top1_failure", sa.Boolean),
        sa.Column("is_top5_failure", sa.Boolean),
        sa.Column("members", JSONType, nullable=False),
        sa.Column("ensemble_id", sa.String(64), nullable=False),
        sa.Column("entropy", sa.Float, nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_predictions"),
        sa.UniqueConstraint(
            "job_id", "image_id", name="uq_predictions_job_id_image_id"
        ),
    )
    op.create_index(
        "ix_predictions_job_top1_failure", "predictions", ["job_id", "is_top1_failure"]
    )
    op.create_index(
        "ix_predictions_job_top5_failure", "predictions", ["job_id", "is_top5_failure"]
    )
    op.create_table(
        "image_errors",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        _job_fk("image_errors"),
        _image_fk("image_errors"),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_image_errors"),
        sa.UniqueConstraint(
            "job_id", "image_id", name="uq_image_errors_job_id_image_id"
        ),
    )
    op.create_table(
        "chunk_runs",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        _job_fk("chunk_runs"),
        sa.Column("chunk", sa.Integer, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("done", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("last_attempt_at", Timestamp),
        sa.Column("finished_at", Timestamp),
        sa.PrimaryKeyConstraint("id", name="pk_chunk_runs"),
        sa.UniqueConstraint("job_id", "chunk", name="uq_chunk_runs_job_id_chunk"),
    )


def downgrade() -> None:
    op.drop_table("chunk_runs")
    op.drop_table("image_errors")
    op.drop_index("ix_predictions_job_top5_failure", table_name="predictions")
    op.drop_index("ix_predictions_job_top1_failure", table_name="predictions")
    op.drop_table("predictions")
    op.drop_table("images")
    op.drop_table("jobs")
