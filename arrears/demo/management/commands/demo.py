import sys
import time

from django.conf import settings

from arrears.core import clock
from arrears.core.management.base import JsonCommand, parse_date_option
from arrears.core.secret_key import ensure_demo_secret_key
from arrears.demo.builder import OPERATOR_TIMEZONE, build_demo


class Command(JsonCommand):
    help = (
        "Create a demo data set: an operator (EUR) and an ERP-mode sub-reseller with customers and about "
        "three months of billing history, then print the logins. Run again, it only prints the logins."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--today", help=f"the demo's today, YYYY-MM-DD (default: today's date in {OPERATOR_TIMEZONE})"
        )

    def handle(self, *args, **options):
        if ensure_demo_secret_key():
            self.stderr.write(f"demo: generated a secret key in {settings.SECRET_KEY_FILE}")
        today = parse_date_option(options["today"], "--today") or clock.local_date(self.now(), OPERATOR_TIMEZONE)
        started = time.monotonic()

        def progress(message: str) -> None:
            self.stderr.write(message)
            sys.stderr.flush()

        summary = build_demo(today=today, progress=progress)
        if summary["created"]:
            self.stderr.write(f"Demo built in {time.monotonic() - started:.1f} s.")
        self.print_json(summary)
