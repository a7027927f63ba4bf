from arrears.core.management.base import CLI_ACTOR, JsonCommand, lookup
from arrears.core.serializers import manager_dict
from arrears.tenants.models import Manager, Reseller
from arrears.tenants.services import create_manager


class Command(JsonCommand):
    help = "Create managers who sign in to the Operator Control Panel and own API tokens."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="create a manager")
        create.add_argument("--reseller", type=int, required=True)
        create.add_argument("--email", required=True)
        create.add_argument("--password", help="omit to create a manager who cannot sign in yet")
        create.add_argument("--role", choices=Manager.Role.values, default=Manager.Role.ADMIN)

    def handle(self, *args, **options):
        manager = create_manager(
            reseller=lookup(Reseller, options["reseller"], "reseller"),
            email=options["email"],
            password=options["password"],
            role=options["role"],
            actor=CLI_ACTOR,
            now=self.now(),
        )
        self.print_json(manager_dict(manager))
