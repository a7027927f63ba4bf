from pathlib import Path

from django.core.management.base import CommandError

from arrears.core.management.base import CLI_ACTOR, JsonCommand, lookup, parse_on_off
from arrears.notifications.catalog import NOTIFIABLE_EVENTS
from arrears.notifications.handlers import DEFAULT_RECIPIENTS, create_event_handler, handlers_for, update_event_handler
from arrears.notifications.models import EventHandler, WebhookEndpoint
from arrears.tenants.models import Reseller


def handler_dict(handler: EventHandler) -> dict:
    return {
        "id": handler.pk,
        "reseller_id": handler.reseller_id,  # null: a platform default
        "event": handler.event,
        "channel": handler.channel,
        "name": handler.name,
        "recipients": handler.recipients,
        "subject": handler.subject,
        "body": handler.body,
        "condition": handler.condition,
        "endpoint_id": handler.endpoint_id,
        "active": handler.active,
        "created_at": handler.created_at,
        "updated_at": handler.updated_at,
    }


def _text(options: dict, name: str) -> str | None:
    """A template given inline (``--body``) or as a file (``--body-file``), which suits multi-line bodies."""
    path = options.get(f"{name}_file")
    if path is None:
        return options.get(name)
    try:
        return Path(path).read_text()
    except OSError as exc:
        raise CommandError(f"--{name}-file: {exc}") from exc


class Command(JsonCommand):
    help = "Create, change and list event handlers: e-mails and webhooks sent when an event happens (R42, R43)."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="create a handler of a reseller, serving its subtree")
        create.add_argument("--reseller", type=int, required=True)
        create.add_argument("--event", required=True, choices=list(NOTIFIABLE_EVENTS))
        create.add_argument("--channel", choices=EventHandler.Channel.values, default="email")
        create.add_argument("--name", required=True)
        create.add_argument("--endpoint", type=int, help="webhook endpoint id (webhook channel)")
        create.add_argument("--recipients", default=DEFAULT_RECIPIENTS, help="Liquid; default: %(default)s")
        create.add_argument(
            "--inactive",
            action="store_true",
            help="create it switched off: it still overrides inherited handlers (R43)",
        )
        change = sub.add_parser("set", help="change a reseller's handler")
        change.add_argument("id", type=int)
        change.add_argument("--name")
        change.add_argument("--recipients")
        change.add_argument("--active", type=parse_on_off, help="on or off")
        for command in (create, change):
            for name in ("subject", "body"):
                group = command.add_mutually_exclusive_group()
                group.add_argument(f"--{name}", help=f"the {name} template (Liquid)")
                group.add_argument(f"--{name}-file", help=f"a file holding the {name} template")
            command.add_argument("--condition", help='a Liquid expression, e.g. "payment.days_left == 3"')
        listing = sub.add_parser("list", help="list the handlers a reseller has and inherits")
        listing.add_argument("--reseller", type=int, required=True)
        listing.add_argument("--event", choices=list(NOTIFIABLE_EVENTS))

    def handle(self, *args, **options):
        action = options["action"]
        if action == "create":
            reseller = lookup(Reseller, options["reseller"], "reseller")
            endpoint = None
            if options["endpoint"] is not None:
                endpoint = lookup(WebhookEndpoint, options["endpoint"], "webhook endpoint")
            handler = create_event_handler(
                reseller,
                event=options["event"],
                channel=options["channel"],
                name=options["name"],
                recipients=options["recipients"],
                subject=_text(options, "subject") or "",
                body=_text(options, "body") or "",
                condition=options["condition"] or "",
                endpoint=endpoint,
                active=not options["inactive"],
                actor=CLI_ACTOR,
                now=self.now(),
            )
            self.print_json(handler_dict(handler))
        elif action == "set":
            handler = lookup(EventHandler.objects.select_related("reseller", "endpoint"), options["id"], "handler")
            changes = {
                name: value
                for name, value in (
                    ("name", options["name"]),
                    ("recipients", options["recipients"]),
                    ("subject", _text(options, "subject")),
                    ("body", _text(options, "body")),
                    ("condition", options["condition"]),
                    ("active", options["active"]),
                )
                if value is not None
            }
            handler = update_event_handler(handler, actor=CLI_ACTOR, now=self.now(), **changes)
            self.print_json(handler_dict(handler))
        else:
            self.print_json(self._listing(lookup(Reseller, options["reseller"], "reseller"), options["event"]))

    def _listing(self, reseller: Reseller, event: str | None) -> list[dict]:
        """The reseller's own, inherited and platform handlers, each marked whether it serves the reseller."""
        events = [event] if event else list(NOTIFIABLE_EVENTS)
        lineage = [int(part) for part in reseller.path.strip("/").split("/")]
        serving = {handler.pk for name in events for handler in handlers_for(reseller.pk, name)}
        handlers = EventHandler.objects.filter(event__in=events, reseller_id__in=lineage) | EventHandler.objects.filter(
            event__in=events, reseller__isnull=True
        )
        return [
            {**handler_dict(handler), "serves": handler.pk in serving}
            for handler in handlers.order_by("event", "channel", "id")
        ]
