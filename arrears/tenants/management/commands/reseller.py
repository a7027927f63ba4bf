from arrears.core.management.base import CLI_ACTOR, JsonCommand, lookup, parse_on_off
from arrears.core.serializers import reseller_dict
from arrears.tenants.models import Reseller
from arrears.tenants.services import create_reseller, set_external_invoices


class Command(JsonCommand):
    help = "Create resellers and change their Finance settings."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="create a reseller")
        create.add_argument("--name", required=True)
        create.add_argument("--currency", required=True, help="ISO 4217 code, e.g. EUR")
        create.add_argument("--parent", type=int, help="id of the parent reseller")
        create.add_argument("--timezone", default="UTC", help="IANA time zone, e.g. Europe/Berlin")
        create.add_argument(
            "--external-invoices", action="store_true", help="hand Postpay invoices to an external ERP (R1)"
        )
        change = sub.add_parser("set", help="change a reseller's settings")
        change.add_argument("id", type=int)
        change.add_argument("--external-invoices", choices=["on", "off"], required=True)

    def handle(self, *args, **options):
        if options["action"] == "create":
            parent = lookup(Reseller, options["parent"], "reseller") if options["parent"] else None
            reseller = create_reseller(
                name=options["name"],
                currency=options["currency"],
                parent=parent,
                timezone=options["timezone"],
                external_invoices=options["external_invoices"],
                actor=CLI_ACTOR,
                now=self.now(),
            )
        else:
            reseller = set_external_invoices(
                lookup(Reseller, options["id"], "reseller"),
                parse_on_off(options["external_invoices"]),
                actor=CLI_ACTOR,
                now=self.now(),
            )
        self.print_json(reseller_dict(reseller))
