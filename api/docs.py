"""A browsable page for the OpenAPI document that needs nothing from a CDN."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template

bp = Blueprint("docs", __name__)

METHODS = ("get", "post", "put", "patch", "delete")


@bp.get("/docs")
def docs_page() -> str:
    """Render every path and operation of the OpenAPI document."""
    spec = current_app.extensions["flask-smorest"]["apis"][""]["ext_obj"].spec.to_dict()
    operations = []
    for path, item in sorted(spec.get("paths", {}).items()):
        for method in METHODS:
            if method in item:
                operation = item[method]
                operations.append(
                    {
                        "method": method.upper(),
                        "path": path,
                        "summary": operation.get("summary", ""),
                        "description": operation.get("description", ""),
                        "parameters": operation.get("parameters", []),
                        "responses": sorted(operation.get("responses", {})),
                    }
                )
    return render_template("docs.html", spec=spec, operations=operations)
