"""``arrears serve``: the whole product in one command — web server, task consumer and scheduler.

The web server (gunicorn) and the Huey consumer (which also fires the periodic tasks) run as child
processes, and so does one reference gateway (``arrears gateway``) for every active connector marked to run
with serve (the demo's Demo Gateway): each gets a free port on loopback, and its connector's URL points there
before the web server takes its first request; when an admin rotates such a connector's secret, its gateway is
restarted with the new one (forgetting its open checkouts, which Arrears then times out). This process supervises
them all: when one dies the others are stopped and ``serve`` exits non-zero so a process manager can restart it;
SIGINT or SIGTERM stops them gracefully and exits 0.
"""

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, connections

from arrears.billing.tasks import run_billing_now
from arrears.core import clock
from arrears.core.secret_key import require_secret_key
from arrears.gateways.models import PaymentConnector
from arrears.gateways.services import point_connector_at
from arrears.server.management.commands.web import add_web_arguments, gunicorn_command, web_environment

SHUTDOWN_TIMEOUT_SECONDS = 30
POLL_SECONDS = 0.2
PR_SET_PDEATHSIG = 1
GATEWAY_HOST = "127.0.0.1"
GATEWAY_STARTUP_SECONDS = 20
GATEWAY_PORT_ATTEMPTS = 3
GATEWAY_SECRET_CHECK_SECONDS = 5


def _die_with_parent() -> None:
    # The children run in their own session so a Ctrl-C reaches only the supervisor, which forwards it;
    # if the supervisor itself is killed outright, the kernel stops them instead of leaving orphans.
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class Child:
    def __init__(self, name: str, command: list[str], stop_signal: signal.Signals, env: dict | None = None):
        self.name = name
        self.command = command
        self.stop_signal = stop_signal
        self.env = env
        self.url = ""  # where a gateway child answers
        self.connector_id: int | None = None  # a gateway child's connector, and the secret it was started with
        self.secret = ""
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(self.command, start_new_session=True, preexec_fn=_die_with_parent, env=self.env)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    @property
    def exit_code(self) -> int | None:
        """The exit status once the process ended; None while it runs or before it started."""
        return None if self.process is None else self.process.returncode

    def ask_to_stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(self.stop_signal)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


class Command(BaseCommand):
    help = "Run Arrears in one command: migrate, collect static files, web server, task consumer and scheduler."

    def add_arguments(self, parser):
        add_web_arguments(parser)
        parser.add_argument("--queue-workers", type=int, default=2, help="Huey worker threads (default 2)")
        parser.add_argument(
            "--no-schedule",
            action="store_true",
            help="bill only when asked (the panel's Run billing now, `arrears billing run`): no "
            "catch-up at start and no periodic tasks; e.g. to walk through a billing day by hand",
        )

    def handle(self, *args, **options):
        try:
            require_secret_key()
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from exc
        self.signals_received: list[int] = []
        self.stdout.write("serve: applying migrations")
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write("serve: collecting static files")
        call_command("collectstatic", interactive=False, verbosity=0)
        if not options["no_schedule"]:
            self._enqueue_catch_up()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda received, frame: self.signals_received.append(received))

        # The gateways first: their connectors must point at them before the first request can start a payment.
        gateways = self._start_gateways()
        connections.close_all()
        # Where the gateways post their callbacks (a connector's callback_url), unless configured otherwise.
        site_host = GATEWAY_HOST if options["host"] in ("", "0.0.0.0", "::") else options["host"]
        site_env = {**os.environ}
        site_env.setdefault("ARREARS_BASE_URL", f"http://{site_host}:{options['port']}")
        children = [
            Child(
                "web server",
                gunicorn_command(
                    host=options["host"], port=options["port"], workers=options["workers"], threads=options["threads"]
                ),
                signal.SIGTERM,
                web_environment(site_env),
            ),  # gunicorn: graceful stop on TERM
            Child(
                "task consumer",
                [
                    sys.executable,
                    "-m",
                    "arrears.cli",
                    "run_huey",
                    "-w",
                    str(options["queue_workers"]),
                    "-k",
                    "thread",
                    *(["--no-periodic"] if options["no_schedule"] else []),
                ],
                signal.SIGINT,
                site_env,
            ),  # huey: graceful stop on INT, immediate on TERM
        ]
        if not self.signals_received:
            for child in children:
                child.start()
            self.stdout.write(
                f"serve: starting the web server on http://{options['host']}:{options['port']}/ "
                f"(pid {children[0].pid}) and the task consumer "
                f"(pid {children[1].pid})"
            )
            self.stdout.flush()
        children = [*gateways, *children]

        died = self._supervise(children)
        clean = self._stop(children)
        if died is not None:
            raise CommandError(f"the {died.name} exited with code {died.exit_code}; stopped the rest")
        if not clean:
            raise CommandError(
                f"killed the children: they did not stop within {SHUTDOWN_TIMEOUT_SECONDS} s "
                "or a second signal asked for an immediate stop"
            )
        self.stdout.write("serve: stopped")

    def _enqueue_catch_up(self) -> None:
        # After downtime, bill the missed days now rather than at the next quarter-hour.
        run_billing_now()

    def _start_gateways(self) -> list[Child]:
        """One reference gateway per active connector that runs with serve, each on a free loopback port, its
        connector pointed at it once it answers."""
        gateways = []
        try:
            for connector in PaymentConnector.objects.filter(active=True, runs_with_serve=True).order_by("id"):
                if self.signals_received:
                    break
                gateway = self._start_gateway(connector)
                if gateway is None:
                    break
                gateways.append(gateway)
                point_connector_at(connector.pk, gateway.url, now=clock.wall_clock())
                self.stdout.write(f"serve: {gateway.name} on {gateway.url} (pid {gateway.pid})")
                self.stdout.flush()
        except BaseException:
            self._stop(gateways)
            raise
        return gateways

    def _start_gateway(self, connector, port: int | None = None) -> Child | None:
        """The gateway child, answering; None if a stop signal came first. Another process may take the port
        between choosing and binding it: then it is tried on another one."""
        env = {**os.environ, "ARREARS_GATEWAY_SECRET": connector.secret, "PYTHONUNBUFFERED": "1"}
        for attempt in range(1, GATEWAY_PORT_ATTEMPTS + 1):
            port = port if attempt == 1 and port else _free_loopback_port()
            gateway = Child(
                f"gateway {connector.name!r} (connector {connector.pk})",
                [sys.executable, "-m", "arrears.cli", "gateway", "--host", GATEWAY_HOST, "--port", str(port)],
                signal.SIGTERM,
                env,
            )
            gateway.url = f"http://{GATEWAY_HOST}:{port}"
            gateway.connector_id, gateway.secret = connector.pk, connector.secret
            gateway.start()
            deadline = time.monotonic() + GATEWAY_STARTUP_SECONDS
            while gateway.running and time.monotonic() < deadline and not self.signals_received:
                if _answers(f"{gateway.url}/healthz"):
                    return gateway
                time.sleep(POLL_SECONDS / 2)
            if self.signals_received:
                self._stop([gateway])
                return None
            if gateway.running:  # it neither answered nor exited in time
                self._stop([gateway])
                raise CommandError(f"the {gateway.name} did not answer within {GATEWAY_STARTUP_SECONDS} s")
            if attempt == GATEWAY_PORT_ATTEMPTS:
                raise CommandError(f"the {gateway.name} exited with code {gateway.exit_code} at start")
        return None

    def _supervise(self, children: list[Child]) -> Child | None:
        """Wait for a stop signal (returns None) or for a child to die (returns it)."""
        next_secret_check = time.monotonic() + GATEWAY_SECRET_CHECK_SECONDS
        while not self.signals_received:
            for child in children:
                if not child.running:
                    return child
            if time.monotonic() >= next_secret_check and any(child.connector_id for child in children):
                self._follow_secret_rotations(children)
                next_secret_check = time.monotonic() + GATEWAY_SECRET_CHECK_SECONDS
            time.sleep(POLL_SECONDS)
        self.stdout.write(f"serve: received {signal.Signals(self.signals_received[0]).name}, stopping")
        return None

    def _follow_secret_rotations(self, children: list[Child]) -> None:
        """Restart, in place in ``children``, each gateway whose connector's secret was rotated: Arrears signs with
        the new secret at once, so the gateway must verify and sign with it too."""
        gateways = {child.connector_id: index for index, child in enumerate(children) if child.connector_id}
        try:
            rotated = [
                connector
                for connector in PaymentConnector.objects.filter(pk__in=gateways)
                if connector.secret != children[gateways[connector.pk]].secret
            ]
            for connector in rotated:
                old = children[gateways[connector.pk]]
                self.stdout.write(
                    f"serve: the secret of connector {connector.pk} was rotated; restarting its "
                    "gateway (its open checkouts are forgotten)"
                )
                self._stop([old])
                try:
                    new = self._start_gateway(connector, port=int(old.url.rsplit(":", 1)[1]))
                except CommandError as exc:  # the stopped gateway stays in the list: serve stops as if it died
                    self.stdout.write(f"serve: {exc}")
                    return
                if new is None:  # a stop signal came meanwhile
                    return
                children[gateways[connector.pk]] = new
                if new.url != old.url:
                    point_connector_at(connector.pk, new.url, now=clock.wall_clock())
                self.stdout.write(f"serve: {new.name} on {new.url} (pid {new.pid})")
                self.stdout.flush()
        except DatabaseError as exc:  # the database is away for a moment: look again at the next check
            self.stdout.write(f"serve: could not read the gateways' connectors ({exc}); trying again shortly")
        finally:
            connections.close_all()

    def _stop(self, children: list[Child]) -> bool:
        """Stop every child gracefully; kill what is left after the timeout or a second signal."""
        signals_before = len(self.signals_received)
        for child in children:
            child.ask_to_stop()
        deadline = time.monotonic() + SHUTDOWN_TIMEOUT_SECONDS
        while any(child.running for child in children):
            if time.monotonic() > deadline or len(self.signals_received) > signals_before:
                for child in children:
                    child.kill()
                return False
            time.sleep(POLL_SECONDS / 2)
        return True


def _free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind((GATEWAY_HOST, 0))
        return probe.getsockname()[1]


_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never through a proxy


def _answers(url: str) -> bool:
    try:
        with _DIRECT.open(url, timeout=1) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False
