from arrears.core.management.base import CLI_ACTOR, JsonCommand, lookup
from arrears.tenants.management.base import manager_actor
from arrears.tenants.models import ApiToken
from arrears.tenants.tokens import SCOPES, create_api_token, revoke_api_token


def api_token_dict(token: ApiToken) -> dict:
    """A token as a person sees it in a list: never its secret, never its hash."""
    return {
        "id": token.pk,
        "name": token.name,
        "manager": token.manager.user.email,
        "reseller_id": token.manager.reseller_id,
        "scopes": token.scopes,
        "prefix": token.prefix,
        "created_at": token.created_at,
        "last_used_at": token.last_used_at,
        "revoked_at": token.revoked_at,
    }


class Command(JsonCommand):
    help = "Create, list and revoke the API tokens an ERP integration uses to act as a manager."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="create a token; its secret is printed once and never again")
        create.add_argument("--manager", required=True, help="e-mail of the manager the token acts as")
        create.add_argument(
            "--scope",
            action="append",
            choices=SCOPES,
            dest="scopes",
            help="repeat for several scopes; default: all the manager's role allows",
        )
        create.add_argument("--name", default="", help="a label to tell tokens apart")
        listing = sub.add_parser("list", help="list tokens (without secrets)")
        listing.add_argument("--manager", help="only the tokens of the manager with this e-mail")
        revoke = sub.add_parser("revoke", help="revoke a token")
        revoke.add_argument("id", type=int)

    def handle(self, *args, **options):
        tokens = ApiToken.objects.select_related("manager__user")
        if options["action"] == "create":
            actor, manager = manager_actor(options["manager"])
            token, secret = create_api_token(
                manager=manager, name=options["name"], scopes=options["scopes"], actor=actor, now=self.now()
            )
            created = api_token_dict(token)
            del created["last_used_at"], created["revoked_at"]
            self.print_json({**created, "token": secret})
        elif options["action"] == "list":
            if options["manager"]:
                tokens = tokens.filter(manager=manager_actor(options["manager"])[1])
            self.print_json([api_token_dict(token) for token in tokens])
        else:
            token = revoke_api_token(lookup(tokens, options["id"], "token"), actor=CLI_ACTOR, now=self.now())
            self.print_json(api_token_dict(token))
