from django.core.management.base import CommandError

from arrears.catalog.services import create_plan
from arrears.core import money
from arrears.core.management.base import CLI_ACTOR, JsonCommand, lookup
from arrears.core.serializers import plan_dict
from arrears.tenants.models import Reseller


class Command(JsonCommand):
    help = "Create plans: a recurring fee per billing period on a billing day."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="create a plan")
        create.add_argument("--reseller", type=int, required=True)
        create.add_argument("--name", required=True)
        create.add_argument("--fee", required=True, help="net fee per period in the reseller currency, e.g. 10.00")
        create.add_argument("--billing-day", type=int, required=True, help="1 to 28")
        create.add_argument("--tax", default="0", help="tax percent, e.g. 20")

    def handle(self, *args, **options):
        reseller = lookup(Reseller, options["reseller"], "reseller")
        try:
            fee = money.parse_amount(options["fee"], reseller.currency)
        except ValueError as exc:
            raise CommandError(f"--fee: {exc}") from exc
        try:
            tax = money.parse_rate_basis_points(options["tax"])
        except ValueError as exc:
            raise CommandError(f"--tax: {exc}") from exc
        plan = create_plan(
            reseller=reseller,
            name=options["name"],
            fee=fee,
            billing_day=options["billing_day"],
            tax_rate_bp=tax,
            actor=CLI_ACTOR,
            now=self.now(),
        )
        self.print_json(plan_dict(plan))
