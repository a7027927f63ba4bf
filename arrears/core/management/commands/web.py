"""``arrears web``: the HTTP server alone (gunicorn), for machines that run the queue elsewhere."""

import os
import sys

import gunicorn
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from arrears.core.secret_key import require_secret_key


def add_web_arguments(parser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port to bind (default 8000)")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn worker processes (default 3)")
    parser.add_argument("--threads", type=int, default=1,
                        help="threads per worker (default 1; more pay off when requests wait on a database server)")


def gunicorn_command(*, host: str, port: int, workers: int, threads: int) -> list[str]:
    """The gunicorn command line shared by ``web`` and ``serve``.

    By default three processes of one thread each (gunicorn's sync workers). On the machine's own SQLite file a
    request is CPU work rather than waiting, so threads of one process would only take turns at the interpreter
    lock: with 4 threads a worker, approvals ran at three quarters of the rate (bench/api_load.sh). A sync worker
    takes a new connection for each request, which spreads the load evenly over the processes; threaded workers
    keep connections alive, and a client with a few long-lived connections can land them all on one process.
    Several processes also keep one crash from taking the whole site down. More threads (the gthread worker) pay
    off when requests wait on a database server.
    """
    command = [
        sys.executable, "-m", "gunicorn", "arrears.wsgi:application",
        "--bind", f"{host}:{port}",
        "--workers", str(workers),
        "--threads", str(threads),
        "--worker-class", "sync" if threads == 1 else "gthread",
        "--graceful-timeout", "20",
        "--access-logfile", "-",
        "--error-logfile", "-",
    ]
    if gunicorn.version_info >= (25, 1):
        # The control socket's default path is one per user, so a second server on the machine (a test
        # run beside the demo) would take it over; Arrears does not use it.
        command.append("--no-control-socket")
    return command


# A request's write waits at most this long for SQLite's writer (then 503 with Retry-After), well within
# gunicorn's 30 s worker timeout; jobs and the command line wait as long as it takes.
WRITER_WAIT_SECONDS = "10"


def web_environment(environment) -> dict:
    return {**environment, "ARREARS_WRITER_WAIT_SECONDS": environment.get("ARREARS_WRITER_WAIT_SECONDS")
            or WRITER_WAIT_SECONDS}


class Command(BaseCommand):
    help = "Run the web server (gunicorn). Run `arrears collectstatic --noinput` once per release first."

    def add_arguments(self, parser):
        add_web_arguments(parser)

    def handle(self, *args, **options):
        try:
            require_secret_key()
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from exc
        command = gunicorn_command(host=options["host"], port=options["port"], workers=options["workers"],
                                   threads=options["threads"])
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(command[0], command, web_environment(os.environ))
