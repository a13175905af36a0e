"""Liveness and readiness."""

from __future__ import annotations

from flask import current_app, jsonify
from flask.views import MethodView
from flask_smorest import Blueprint

from models.registry import MEMBERS
from services.errors import UnavailableError

blp = Blueprint("health", __name__, description="Health")


@blp.route("/healthz")
class Healthz(MethodView):
    def get(self):  # type: ignore[no-untyped-def]
        """Report that the API process is alive"""
        return jsonify({"status": "ok"})


@blp.route("/readyz")
class Readyz(MethodView):
    def get(self):  # type: ignore[no-untyped-def]
        """Report ready when a worker replies and has loaded every member"""
        client = current_app.extensions["failcat_workers"]
        try:
            nodes = client.ping()
            statuses = client.worker_statuses(nodes)
        except UnavailableError as exc:
            response = jsonify({"status": "unavailable", "reason": exc.message})
            response.status_code = 503
            return response
        expected = {member.name for member in MEMBERS}
        ready_nodes = [
            s["node"]
            for s in statuses
            if s.get("loaded") and {m["name"] for m in s.get("members", [])} == expected
        ]
        body = {
            "status": "ready" if ready_nodes else "not ready",
            "workers": nodes,
            "ready_workers": ready_nodes,
            "details": [
                {k: s.get(k) for k in ("node", "loaded", "error", "execution_provider")}
                for s in statuses
            ],
        }
        if not nodes:
            body["reason"] = "no worker answered a ping"
        elif not ready_nodes:
            body["reason"] = "no worker has loaded every ensemble member"
        response = jsonify(body)
        response.status_code = 200 if ready_nodes else 503
        return response
