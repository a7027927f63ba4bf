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
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="threads per worker that run requests (default 1; more pay off when requests wait on a database server)",
    )


def gunicorn_command(*, host: str, port: int, workers: int, threads: int) -> list[str]:
    """The gunicorn command line shared by ``web`` and ``serve``.

    gunicorn's asyncio worker (``asgi``) in front of the WSGI site (arrears.asgi):
    the event loop reads the heads and bodies of all connections side by side and a request runs only once its
    body is whole, so slow or stalled uploads hold a coroutine each, not a worker (issue 12: with sync workers,
    one stalled upload per worker plus one made /healthz time out). bench/README.md, "Slow clients", has the
    figures and the fixes that were rejected: threads only raise the number of uploads needed, a read deadline
    still lets them hold every worker for as long as it lasts, Django's own ASGI handler cost several times
    the CPU per request.

    By default three processes, each running requests in one thread. On the machine's own SQLite file a request
    is CPU work rather than waiting, so threads of one process would only take turns at the interpreter lock:
    with 4 threads a worker, approvals ran at three quarters of the rate (bench/api_load.sh). Several processes
    also keep one crash from taking the whole site down. More threads pay off when requests wait on a database
    server. Connections are kept alive for gunicorn's default 2 s, as a sync worker could not.
    """
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        f"arrears.asgi:buffered_site(threads={threads})",
        "--bind",
        f"{host}:{port}",
        "--workers",
        str(workers),
        "--worker-class",
        "asgi",
        "--asgi-lifespan",
        "off",
        "--graceful-timeout",
        "20",
        "--access-logfile",
        "-",
        "--error-logfile",
        "-",
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
    return {
        **environment,
        "ARREARS_WRITER_WAIT_SECONDS": environment.get("ARREARS_WRITER_WAIT_SECONDS") or WRITER_WAIT_SECONDS,
    }


class Command(BaseCommand):
    help = "Run the web server (gunicorn). Run `arrears collectstatic --noinput` once per release first."

    def add_arguments(self, parser):
        add_web_arguments(parser)

    def handle(self, *args, **options):
        try:
            require_secret_key()
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from exc
        command = gunicorn_command(
            host=options["host"], port=options["port"], workers=options["workers"], threads=options["threads"]
        )
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(command[0], command, web_environment(os.environ))
