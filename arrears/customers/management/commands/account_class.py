from arrears.core.management.base import CLI_ACTOR, JsonCommand, lookup
from arrears.core.serializers import account_class_dict
from arrears.customers.services import create_account_class
from arrears.tenants.models import Reseller


class Command(JsonCommand):
    help = "Create account classes: the payment terms shared by accounts."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="create an account class")
        create.add_argument("--reseller", type=int, required=True)
        create.add_argument("--name", required=True)
        create.add_argument(
            "--expiration-days", type=int, default=10, help="days until an unpaid payment expires (default 10)"
        )
        create.add_argument(
            "--grace-days",
            type=int,
            default=0,
            help="days an expired payment waits before blocking subscriptions (default 0)",
        )

    def handle(self, *args, **options):
        account_class = create_account_class(
            reseller=lookup(Reseller, options["reseller"], "reseller"),
            name=options["name"],
            payment_expiration_days=options["expiration_days"],
            grace_days=options["grace_days"],
            actor=CLI_ACTOR,
            now=self.now(),
        )
        self.print_json(account_class_dict(account_class))
