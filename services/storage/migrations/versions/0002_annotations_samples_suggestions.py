"""Create annotations with their history, samples and suggestions.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The schema as of this revision, written out so that later changes to
# services/storage/tables.py do not alter what this migration does.
JSONType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
Timestamp = sa.DateTime(timezone=True)
CATEGORIES = (
    "category IN ('similar_labels', 'not_salient_gt', 'challenging_image', "
    "'incorrect_gt', 'incorrect_pc')"
)


def _fk(table: str, column: str, target: str, cascade: bool = True) -> sa.Column:
    referred = target.split(".")[0]
    column_type = sa.String(1024) if column == "image_id" else sa.Integer
    return sa.Column(
        column,
        column_type,
        sa.ForeignKey(
            target,
            name=f"fk_{table}_{column}_{referred}",
            ondelete="CASCADE" if cascade else None,
        ),
        nullable=False,
    )


def upgrade() -> None:
    op.create_table(
        "annotations",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        _fk("annotations", "job_id", "jobs.id"),
        _fk("annotations", "image_id", "images.id", cascade=False),
        sa.Column("annotator", sa.String(128), nullable=False),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("note", sa.Text),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.Column("retracted_at", Timestamp),
        sa.PrimaryKeyConstraint("id", name="pk_annotations"),
        sa.UniqueConstraint(
            "job_id", "image_id", "annotator", name="uq_annotations_job_id_image_id"
        ),
        sa.CheckConstraint(CATEGORIES, name="ck_annotations_category"),
    )
    op.create_table(
        "annotation_events",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        _fk("annotation_events", "annotation_id", "annotations.id"),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("note", sa.Text),
        sa.Column("recorded_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_annotation_events"),
        sa.UniqueConstraint(
            "annotation_id",
            "version",
            name="uq_annotation_events_annotation_id_version",
        ),
        sa.CheckConstraint(
            "action IN ('created', 'changed', 'retracted')",
            name="ck_annotation_events_action",
        ),
    )
    op.create_table(
        "samples",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        _fk("samples", "job_id", "jobs.id"),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("seed", sa.Integer, nullable=False),
        sa.Column("created_by", sa.String(128)),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_samples"),
    )
    op.create_table(
        "sample_items",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        _fk("sample_items", "sample_id", "samples.id"),
        sa.Column("position", sa.Integer, nullable=False),
        _fk("sample_items", "image_id", "images.id", cascade=False),
        sa.PrimaryKeyConstraint("id", name="pk_sample_items"),
        sa.UniqueConstraint(
            "sample_id", "position", name="uq_sample_items_sample_id_position"
        ),
        sa.UniqueConstraint(
            "sample_id", "image_id", name="uq_sample_items_sample_id_image_id"
        ),
    )
    op.create_table(
        "suggestions",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        _fk("suggestions", "job_id", "jobs.id"),
        _fk("suggestions", "image_id", "images.id", cascade=False),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("confidence", sa.Float, nullable=False),
        sa.Column("decided_by", JSONType, nullable=False),
        sa.Column("evidence", JSONType, nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_suggestions"),
        sa.UniqueConstraint(
            "job_id", "image_id", name="uq_suggestions_job_id_image_id"
        ),
        sa.CheckConstraint(CATEGORIES, name="ck_suggestions_category"),
    )


def downgrade() -> None:
    for table in (
        "suggestions",
        "sample_items",
        "samples",
        "annotation_events",
        "annotations",
    ):
        op.drop_table(table)
