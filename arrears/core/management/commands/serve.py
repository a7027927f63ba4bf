"""``arrears serve``: the whole product in one command — web server, task consumer and scheduler.

The web server (gunicorn) and the Huey consumer (which also fires the periodic tasks) run as child
processes. This process supervises them: when one dies the other is stopped and ``serve`` exits non-zero
so a process manager can restart it; SIGINT or SIGTERM stops both gracefully and exits 0.
"""

import ctypes
import signal
import subprocess
import sys
import time

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from arrears.core.management.commands.web import add_web_arguments, gunicorn_command

SHUTDOWN_TIMEOUT_SECONDS = 30
POLL_SECONDS = 0.2
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    # The children run in their own session so a Ctrl-C reaches only the supervisor, which forwards it;
    # if the supervisor itself is killed outright, the kernel stops them instead of leaving orphans.
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class Child:
    def __init__(self, name: str, command: list[str], stop_signal: signal.Signals):
        self.name = name
        self.command = command
        self.stop_signal = stop_signal
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(self.command, start_new_session=True, preexec_fn=_die_with_parent)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


class Command(BaseCommand):
    help = "Run Arrears in one command: migrate, collect static files, web server, task consumer and scheduler."

    def add_arguments(self, parser):
        add_web_arguments(parser)
        parser.add_argument("--queue-workers", type=int, default=2, help="Huey worker threads (default 2)")
        parser.add_argument("--no-schedule", action="store_true",
                            help="bill only when asked (the panel's Run billing now, `arrears billing run`): no "
                                 "catch-up at start and no periodic tasks; e.g. to walk through a billing day by hand")

    def handle(self, *args, **options):
        self.signals_received: list[int] = []
        self.stdout.write("serve: applying migrations")
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write("serve: collecting static files")
        call_command("collectstatic", interactive=False, verbosity=0)
        if not options["no_schedule"]:
            self._enqueue_catch_up()
        connections.close_all()

        children = [
            Child("web server", gunicorn_command(host=options["host"], port=options["port"],
                                                 workers=options["workers"], threads=options["threads"]),
                  signal.SIGTERM),  # gunicorn: graceful stop on TERM
            Child("task consumer", [sys.executable, "-m", "arrears.cli", "run_huey",
                                    "-w", str(options["queue_workers"]), "-k", "thread",
                                    *(["--no-periodic"] if options["no_schedule"] else [])],
                  signal.SIGINT),  # huey: graceful stop on INT, immediate on TERM
        ]
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda received, frame: self.signals_received.append(received))
        for child in children:
            child.start()
        self.stdout.write(f"serve: starting the web server on http://{options['host']}:{options['port']}/ "
                          f"(pid {children[0].process.pid}) and the task consumer (pid {children[1].process.pid})")
        self.stdout.flush()

        died = self._supervise(children)
        clean = self._stop(children)
        if died is not None:
            raise CommandError(f"the {died.name} exited with code {died.process.returncode}; stopped the rest")
        if not clean:
            raise CommandError(f"killed the children: they did not stop within {SHUTDOWN_TIMEOUT_SECONDS} s "
                               "or a second signal asked for an immediate stop")
        self.stdout.write("serve: stopped")

    def _enqueue_catch_up(self) -> None:
        # After downtime, bill the missed days now rather than at the next quarter-hour.
        from arrears.billing.tasks import run_billing_now

        run_billing_now()

    def _supervise(self, children: list[Child]) -> Child | None:
        """Wait for a stop signal (returns None) or for a child to die (returns it)."""
        while not self.signals_received:
            for child in children:
                if not child.running:
                    return child
            time.sleep(POLL_SECONDS)
        self.stdout.write(f"serve: received {signal.Signals(self.signals_received[0]).name}, stopping")
        return None

    def _stop(self, children: list[Child]) -> bool:
        """Stop every child gracefully; kill what is left after the timeout or a second signal."""
        signals_before = len(self.signals_received)
        for child in children:
            if child.running:
                child.process.send_signal(child.stop_signal)
        deadline = time.monotonic() + SHUTDOWN_TIMEOUT_SECONDS
        while any(child.running for child in children):
            if time.monotonic() > deadline or len(self.signals_received) > signals_before:
                for child in children:
                    if child.running:
                        child.process.kill()
                        child.process.wait()
                return False
            time.sleep(POLL_SECONDS / 2)
        return True
