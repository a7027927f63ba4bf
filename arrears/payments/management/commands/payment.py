from django.core.management.base import CommandError

from arrears.core import money
from arrears.core.management.base import JsonCommand, lookup
from arrears.core.serializers import payment_dict
from arrears.customers.models import Account
from arrears.payments.models import Payment, PaymentMethod
from arrears.payments.services import approve_payment, cancel_payment, pay_from_balance, top_up_balance
from arrears.tenants.management.base import manager_actor
from arrears.tenants.roles import BILL


class Command(JsonCommand):
    help = "Act on payments as a manager: pay from balance, approve, cancel, top up a balance."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        for name, text in (
            ("pay-from-balance", "pay a payment for rendered services from the balance"),
            ("approve", "confirm the money arrived (completes the payment)"),
            ("cancel", "cancel an unapproved ERP payment or a waiting top-up"),
        ):
            action = sub.add_parser(name, help=text)
            action.add_argument("id", type=int)
            action.add_argument("--manager", required=True, help="e-mail of the acting manager")
            if name == "approve":
                action.add_argument("--method", type=int, help="payment method id (required in default mode)")
            if name == "cancel":
                action.add_argument("--comment", default="")
        top_up = sub.add_parser("top-up", help="credit an account's balance with money received")
        top_up.add_argument("--account", type=int, required=True)
        top_up.add_argument("--amount", required=True, help="e.g. 100.00 in the reseller currency")
        top_up.add_argument("--manager", required=True, help="e-mail of the acting manager")

    def handle(self, *args, **options):
        actor, manager = manager_actor(options["manager"], BILL)
        in_reach = {"reseller__path__startswith": manager.reseller.path}
        if options["action"] == "top-up":
            account = lookup(
                Account.objects.filter(**in_reach).select_related("reseller"), options["account"], "account"
            )
            try:
                amount = money.parse_amount(options["amount"], account.reseller.currency)
            except ValueError as exc:
                raise CommandError(f"--amount: {exc}") from exc
            self.print_json(payment_dict(top_up_balance(account, amount, actor=actor, now=self.now())))
            return
        payment = lookup(Payment.objects.filter(**in_reach), options["id"], "payment")
        if options["action"] == "pay-from-balance":
            payment = pay_from_balance(payment, actor=actor, now=self.now())
        elif options["action"] == "approve":
            method = lookup(PaymentMethod, options["method"], "payment method") if options["method"] else None
            payment = approve_payment(payment, payment_method=method, actor=actor, now=self.now())
        else:
            payment = cancel_payment(payment, comment=options["comment"], actor=actor, now=self.now())
        self.print_json(payment_dict(payment))
