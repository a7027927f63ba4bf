import sys

from arrears.billing.engine import run_billing
from arrears.core.management.base import JsonCommand, lookup, parse_date_option
from arrears.tenants.models import Reseller


class Command(JsonCommand):
    help = "Run the daily billing jobs, catching up every day since the last completed run."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        run = sub.add_parser("run", help="bill every due day up to --date (default: today, per reseller)")
        run.add_argument("--date", help="last day to bill, YYYY-MM-DD")
        run.add_argument("--reseller", type=int, help="bill only this reseller")

    def handle(self, *args, **options):
        until = parse_date_option(options["date"], "--date")
        reseller_ids = None
        if options["reseller"]:
            reseller_ids = [lookup(Reseller, options["reseller"], "reseller").pk]
        interactive = sys.stderr.isatty()

        def progress(step: str, done: int, total: int) -> None:
            if interactive:
                sys.stderr.write(f"\r  {step}: {done:,}/{total:,}\x1b[K")
                sys.stderr.flush()

        def on_day(reseller, result) -> None:
            if interactive:
                sys.stderr.write("\r\x1b[K")
            if result.skipped:
                self.stderr.write(f"{reseller.name} {result.date}: already billed, skipped")
                return
            done = ", ".join(f"{name.replace('_', ' ')} {count}" for name, count in result.counts.items() if count)
            self.stderr.write(f"{reseller.name} {result.date}: {done or 'nothing to do'}")

        results = run_billing(
            wall_now=self.now(),
            wall_clock=self.now,
            until=until,
            reseller_ids=reseller_ids,
            progress=progress,
            on_day=on_day,
        )
        billed = [r for r in results if not r.skipped]
        totals: dict[str, int] = {}
        for result in billed:
            for name, count in result.counts.items():
                totals[name] = totals.get(name, 0) + count
        self.print_json({"days_billed": len(billed), "days_skipped": len(results) - len(billed), "totals": totals})
