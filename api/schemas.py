"""Marshmallow schemas for requests and responses; they also feed the OpenAPI document."""

from __future__ import annotations

from marshmallow import Schema, fields, validate


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
