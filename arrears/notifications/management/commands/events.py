from datetime import UTC, datetime

from django.core.management.base import CommandError

from arrears.core.management.base import CLI_ACTOR, JsonCommand, lookup
from arrears.notifications.replay import replay_deliveries
from arrears.tenants.models import Reseller


def _since(value: str) -> datetime:
    try:
        since = datetime.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"--since: {value!r} is not YYYY-MM-DD or YYYY-MM-DDTHH:MM") from exc
    return since if since.tzinfo else since.replace(tzinfo=UTC)


class Command(JsonCommand):
    help = "Operate the event deliveries (e-mails and webhooks)."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        replay = sub.add_parser("replay", help="send again the failed and cancelled deliveries of events since a time")
        replay.add_argument(
            "--since", required=True, help="YYYY-MM-DD or YYYY-MM-DDTHH:MM, UTC unless an offset is given"
        )
        replay.add_argument("--reseller", type=int, help="only the events of this reseller and its sub-resellers")
        replay.add_argument("--include-sent", action="store_true", help="also send again what was sent")

    def handle(self, *args, **options):
        since = _since(options["since"])
        reseller_id = lookup(Reseller, options["reseller"], "reseller").pk if options["reseller"] else None
        self.stderr.write(f"replaying the deliveries of events since {since.isoformat()}…")
        counts = replay_deliveries(
            since=since, reseller_id=reseller_id, include_sent=options["include_sent"], now=self.now(), actor=CLI_ACTOR
        )
        self.stderr.write(
            f"{counts['deliveries_requeued']} deliveries queued again"
            f" ({counts['deliveries_skipped_endpoint_disabled']} left: endpoint disabled),"
            f" {counts['events_dispatched']} waiting events dispatched"
        )
        self.print_json(counts)
