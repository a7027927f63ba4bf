from arrears.core.management.base import CLI_ACTOR, JsonCommand, lookup
from arrears.notifications.handlers import create_webhook_endpoint
from arrears.notifications.models import WebhookEndpoint
from arrears.tenants.models import Reseller


def endpoint_dict(endpoint: WebhookEndpoint) -> dict:
    """An endpoint as a list shows it: without its signing secret."""
    return {
        "id": endpoint.pk,
        "reseller_id": endpoint.reseller_id,
        "url": endpoint.url,
        "description": endpoint.description,
        "active": endpoint.active,
        "consecutive_failures": endpoint.consecutive_failures,
        "disabled_at": endpoint.disabled_at,
        "created_at": endpoint.created_at,
    }


class Command(JsonCommand):
    help = "Create and list webhook endpoints, which webhook handlers post signed events to."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="create an endpoint; prints the secret the receiver verifies with")
        create.add_argument("--reseller", type=int, required=True)
        create.add_argument("--url", required=True, help="https URL (http only on 127.0.0.1 or localhost)")
        create.add_argument("--description", default="")
        listing = sub.add_parser("list", help="list a reseller's endpoints (without secrets)")
        listing.add_argument("--reseller", type=int, required=True)

    def handle(self, *args, **options):
        reseller = lookup(Reseller, options["reseller"], "reseller")
        if options["action"] == "create":
            endpoint = create_webhook_endpoint(
                reseller, url=options["url"], description=options["description"], actor=CLI_ACTOR, now=self.now()
            )
            self.print_json({**endpoint_dict(endpoint), "secret": endpoint.secret})
        else:
            self.print_json([endpoint_dict(endpoint) for endpoint in WebhookEndpoint.objects.filter(reseller=reseller)])
