"""Marshmallow schemas for requests and responses, also used for the OpenAPI file."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from services.categories import CATEGORY_KEYS

# Ids and page numbers fit the databases' 32-bit integer columns.
MAX_ID = 2**31 - 1
ID_RANGE = validate.Range(min=1, max=MAX_ID)


class PredictionQuerySchema(Schema):
    top_k = fields.Integer(
        load_default=5,
        validate=validate.Range(min=1, max=1000),
        metadata={"description": "how many classes to return, from 1 to 1000"},
    )


class ClassScoreSchema(Schema):
    class_index = fields.Integer(
        metadata={"description": "0-based, sorted WordNet ids"}
    )
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
        strict=True,
        validate=validate.Range(min=1, max=50000),
        metadata={"description": "first validation index, 1-based, inclusive"},
    )
    stop = fields.Integer(
        strict=True,
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
        if data.get("dataset") == "imagenet-val" and "path" in data:
            raise ValidationError(
                "path is for folder jobs; an imagenet-val job reads "
                "FAILCAT_IMAGENET_VAL_DIR",
                field_name="path",
            )
        if data.get("dataset") == "folder":
            if not data.get("path"):
                raise ValidationError("required for a folder job", field_name="path")
            for name in ("start", "stop"):
                if name in data:
                    raise ValidationError(
                        f"{name} is for imagenet-val jobs; a folder job reads "
                        "every image under its path",
                        field_name=name,
                    )


class PageQuerySchema(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=MAX_ID))
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
        validate=validate.OneOf(CATEGORY_KEYS),
        metadata={"description": "only failures with this suggested category key"},
    )


class CategorySchema(Schema):
    id = fields.Integer()
    key = fields.String()
    title = fields.String()
    definition = fields.String()
    prediction_correct = fields.Boolean(
        metadata={"description": "true when the predicted class is in fact right"}
    )
    paper_count = fields.Integer(
        metadata={"description": "failures among the 400 of Lee, Agarwal and Kim"}
    )
    paper_rate = fields.Float()


class CategoryListSchema(Schema):
    items = fields.List(fields.Nested(CategorySchema))
    total = fields.Integer()


class AnnotationCreateSchema(Schema):
    job = fields.Integer(
        required=True,
        strict=True,
        validate=ID_RANGE,
        metadata={"description": "job id"},
    )
    image = fields.String(
        required=True,
        validate=validate.Length(min=1),
        metadata={"description": "image id of a failure of the job"},
    )
    category = fields.Raw(
        required=True,
        metadata={"description": "category key, such as incorrect_gt, or id 1 to 5"},
    )
    note = fields.String(
        allow_none=True,
        metadata={"description": "free text, up to FAILCAT_MAX_NOTE_CHARS characters"},
    )


class AnnotationUpdateSchema(Schema):
    category = fields.Raw(
        metadata={"description": "new category key or id; omit to keep it"}
    )
    note = fields.String(
        allow_none=True,
        metadata={"description": "new note; null clears it, omit to keep it"},
    )


class AnnotationQuerySchema(PageQuerySchema):
    job = fields.Integer(
        validate=ID_RANGE, metadata={"description": "only annotations of this job"}
    )
    sample = fields.Integer(
        validate=ID_RANGE,
        metadata={"description": "only annotations of this sample's images"},
    )
    annotator = fields.String(metadata={"description": "only this annotator's"})
    category = fields.String(metadata={"description": "only this category key or id"})
    include_retracted = fields.Boolean(load_default=False)
    history = fields.Boolean(
        load_default=False, metadata={"description": "embed each annotation's events"}
    )


class AnnotationEventSchema(Schema):
    version = fields.Integer()
    action = fields.String(metadata={"description": "created, changed or retracted"})
    category = fields.String()
    note = fields.String(allow_none=True)
    recorded_at = fields.String()


class AnnotationSchema(Schema):
    id = fields.Integer()
    job = fields.Integer()
    image = fields.String()
    image_url = fields.String()
    annotator = fields.String()
    category = fields.String()
    category_id = fields.Integer()
    note = fields.String(allow_none=True)
    version = fields.Integer()
    created_at = fields.String()
    updated_at = fields.String()
    retracted_at = fields.String(allow_none=True)
    events = fields.List(fields.Nested(AnnotationEventSchema))


class AnnotationListSchema(Schema):
    items = fields.List(fields.Nested(AnnotationSchema))
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()


class SampleCreateSchema(Schema):
    size = fields.Integer(
        required=True,
        strict=True,
        validate=validate.Range(min=1, max=MAX_ID),
        metadata={"description": "number of failures to draw, at least 1"},
    )
    seed = fields.Integer(
        required=True,
        strict=True,
        validate=validate.Range(min=0, max=2**31 - 1),
        metadata={"description": "seed of the draw, 0 to 2147483647"},
    )


class SampleItemSchema(Schema):
    position = fields.Integer(metadata={"description": "0-based review order"})
    image = fields.String()
    image_url = fields.String()
    annotation = fields.Nested(AnnotationSchema, allow_none=True)


class SampleSchema(Schema):
    id = fields.Integer()
    job = fields.Integer()
    size = fields.Integer()
    seed = fields.Integer()
    created_by = fields.String(allow_none=True)
    created_at = fields.String()
    items = fields.List(fields.Nested(SampleItemSchema))
    annotator = fields.String(allow_none=True)
    annotated = fields.Integer()
    remaining = fields.Integer()


class SampleQuerySchema(Schema):
    annotator = fields.String(
        metadata={"description": "whose progress to show; default the caller's"}
    )


class NextItemSchema(Schema):
    sample = fields.Integer()
    job = fields.Integer()
    annotator = fields.String()
    item = fields.Nested(SampleItemSchema, allow_none=True)
    done = fields.Boolean()
    annotated = fields.Integer()
    remaining = fields.Integer()
    size = fields.Integer()


class StatsQuerySchema(Schema):
    job = fields.Integer(
        validate=ID_RANGE, metadata={"description": "job id; optional with sample"}
    )
    sample = fields.Integer(
        validate=ID_RANGE, metadata={"description": "only this sample's failures"}
    )
    annotator = fields.String(metadata={"description": "only this annotator's labels"})
    format = fields.String(
        load_default="json",
        validate=validate.OneOf(["json", "csv", "md"]),
        metadata={"description": "json, or csv or md for the per-category table"},
    )
    pairs = fields.Integer(
        load_default=10,
        validate=validate.Range(min=0, max=1000),
        metadata={"description": "how many confusion pairs to return"},
    )
    compare = fields.String(
        validate=validate.OneOf(["suggested"]),
        metadata={"description": "suggested: score suggestions against annotators"},
    )
