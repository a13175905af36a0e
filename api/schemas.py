"""Marshmallow schemas for requests and responses; they also feed the OpenAPI document."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema


class PredictionQuerySchema(Schema):
    top_k = fields.Integer(
        load_default=5,
        validate=validate.Range(min=1, max=1000),
        metadata={"description": "how many classes to return, from 1 to 1000"},
    )


class ClassScoreSchema(Schema):
    class_index = fields.Integer(metadata={"description": "0-based, sorted WordNet ids"})
    wnid = fields.String()
    name = fields.String()
    probability = fields.Float()


class EnsembleIdentitySchema(Schema):
    id = fields.String(metadata={"description": "sha256 of the manifest's members"})
    members = fields.List(fields.String())


class MemberPredictionSchema(Schema):
    name = fields.String()
    predictions = fields.List(fields.Nested(ClassScoreSchema))


class PredictionSchema(Schema):
    ensemble = fields.Nested(EnsembleIdentitySchema)
    predictions = fields.List(fields.Nested(ClassScoreSchema))
    members = fields.List(fields.Nested(MemberPredictionSchema))
    execution_provider = fields.String()


class MemberInfoSchema(Schema):
    name = fields.String()
    file = fields.String()
    sha256 = fields.String()
    opset = fields.Integer()
    input_size = fields.Integer()
    preprocessing = fields.Dict()
    execution_provider = fields.String()


class ModelsSchema(Schema):
    ensemble = fields.Nested(EnsembleIdentitySchema)
    execution_provider = fields.String()
    requested_providers = fields.List(fields.String())
    warnings = fields.List(fields.String())
    members = fields.List(fields.Nested(MemberInfoSchema))
    workers = fields.List(fields.String())


class JobCreateSchema(Schema):
    dataset = fields.String(
        required=True,
        validate=validate.OneOf(["imagenet-val", "folder"]),
        metadata={"description": "imagenet-val or folder"},
    )
    start = fields.Integer(
        validate=validate.Range(min=1, max=50000),
        metadata={"description": "first validation index, 1-based, inclusive"},
    )
    stop = fields.Integer(
        validate=validate.Range(min=1, max=50000),
        metadata={"description": "last validation index, inclusive"},
    )
    path = fields.String(
        metadata={"description": "folder relative to one of FAILCAT_DATASET_ROOTS"}
    )
    criterion = fields.String(
        load_default="top1",
        validate=validate.OneOf(["top1", "top5"]),
        metadata={"description": "what counts as a failure"},
    )

    @validates_schema
    def check_range(self, data: dict, **_: object) -> None:
        if data.get("dataset") == "imagenet-val":
            missing = [name for name in ("start", "stop") if data.get(name) is None]
            if missing:
                raise ValidationError(
                    {name: ["required for imagenet-val"] for name in missing}
                )
            if data["start"] > data["stop"]:
                raise ValidationError(
                    f"start ({data['start']}) must not be greater than stop "
                    f"({data['stop']})",
                    field_name="start",
                )
        if data.get("dataset") == "folder" and not data.get("path"):
            raise ValidationError("required for a folder job", field_name="path")


class PageQuerySchema(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))


class FailureQuerySchema(PageQuerySchema):
    ground_truth = fields.Integer(
        validate=validate.Range(min=0, max=999),
        metadata={"description": "only failures with this ground-truth class"},
    )
    predicted_class = fields.Integer(
        validate=validate.Range(min=0, max=999),
        metadata={"description": "only failures with this predicted class"},
    )
    suggested = fields.String(
        metadata={"description": "only failures with this suggested category key"}
    )
