"""``arrears gateway``: the reference payment gateway (connector protocol v1) as a process of its own.

    export ARREARS_GATEWAY_SECRET="whsec_…"   # the connector's secret, shown once when it was created
    arrears gateway --port 8765

``arrears serve`` starts one for each connector marked to run with it (the demo's Demo Gateway). Checkouts are
kept in memory: a restarted gateway has forgotten them, and Arrears times their attempts out.
"""

import os
import signal
import threading

from django.core.management.base import BaseCommand, CommandError

from arrears.gateways.reference.server import ReferenceGateway, SecretInvalid

SECRET_VARIABLE = "ARREARS_GATEWAY_SECRET"


class Command(BaseCommand):
    help = (
        "Run the reference payment gateway (connector protocol v1) on loopback; its secret comes from "
        f"${SECRET_VARIABLE}."
    )
    requires_system_checks = []  # it uses neither the database nor the apps

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
        parser.add_argument("--port", type=int, default=8765, help="port to bind (default 8765)")

    def handle(self, *args, **options):
        try:
            server = ReferenceGateway(options["host"], options["port"], os.environ.get(SECRET_VARIABLE))
        except SecretInvalid as exc:
            raise CommandError(str(exc)) from exc
        except OSError as exc:
            raise CommandError(f"cannot listen on {options['host']}:{options['port']}: {exc.strerror or exc}") from exc

        def stop(signum, frame):
            # shutdown() waits for serve_forever() to return, which runs in this (the main) thread: ask from another.
            threading.Thread(target=server.shutdown, daemon=True).start()

        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, stop)
        server.log(f"listening on {server.base_url} (connector protocol v1)")
        try:
            server.serve_forever(poll_interval=0.2)
        finally:
            server.server_close()
        server.log("stopped")
