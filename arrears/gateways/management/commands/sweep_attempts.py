"""``arrears sweep-attempts`` — what the minute job does, now: ask the connectors about open payment attempts and
time out those past their processing period. ``--at`` pretends it is later (to see what a timeout does)."""

from datetime import datetime

from django.core.management.base import BaseCommand, CommandError

from arrears.core import clock
from arrears.gateways.services import sweep_open_attempts


class Command(BaseCommand):
    help = "Ask the payment connectors about open attempts; time out those past their processing period."

    def add_arguments(self, parser):
        parser.add_argument("--at", help="the moment to sweep at, ISO 8601 with a time zone (default: now)")

    def handle(self, *args, **options):
        now = clock.wall_clock()
        if options["at"]:
            try:
                now = datetime.fromisoformat(options["at"])
            except ValueError as exc:
                raise CommandError(f"--at: {exc}") from exc
            if now.tzinfo is None:
                raise CommandError("--at: give a time zone, e.g. 2026-12-02T10:00:00+00:00")
        self.stdout.write(f"asked about {sweep_open_attempts(now=now)} open attempt(s)")
