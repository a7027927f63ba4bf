from arrears.core.management.base import JsonCommand, lookup, parse_date_option
from arrears.core.serializers import invoice_dict
from arrears.invoices.models import Invoice
from arrears.invoices.services import approve_invoice, complete_invoice_payment, revoke_invoice_approval
from arrears.tenants.management.base import manager_actor
from arrears.tenants.roles import BILL


class Command(JsonCommand):
    help = "List invoices and act on ERP-managed ones as a manager (approve, revoke, complete)."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        listing = sub.add_parser("list", help="list a reseller's invoices, newest first")
        listing.add_argument("--reseller", type=int, required=True)
        listing.add_argument("--status", choices=Invoice.Status.values)
        listing.add_argument("--approved", choices=["yes", "no"])
        listing.add_argument("--limit", type=int, default=20)
        for name, text in (
            ("approve", "approve a closed ERP-managed invoice"),
            ("revoke", "revoke an invoice's approval"),
            ("complete", "complete the payment of an approved invoice"),
        ):
            action = sub.add_parser(name, help=text)
            action.add_argument("id", type=int)
            action.add_argument("--manager", required=True, help="e-mail of the acting manager")
            action.add_argument("--document-id", required=True, help="the ERP's invoice number")
            action.add_argument("--billing-date", required=True, help="start of the billing period, YYYY-MM-DD")
            if name == "approve":
                action.add_argument("--due-date", help="YYYY-MM-DD; default from the account class")
            if name == "revoke":
                action.add_argument("--comment", default="", help="the reason, appended to the payment's comment")

    def handle(self, *args, **options):
        if options["action"] == "list":
            invoices = Invoice.objects.filter(reseller_id=options["reseller"]).order_by("-id")
            if options["status"]:
                invoices = invoices.filter(status=options["status"])
            if options["approved"]:
                invoices = invoices.filter(managed_externally=True, approved=options["approved"] == "yes")
            rows = invoices.select_related("payment")[: max(1, options["limit"])]
            self.print_json([invoice_dict(invoice) for invoice in rows])
            return
        actor, manager = manager_actor(options["manager"], BILL)
        invoice = lookup(
            Invoice.objects.filter(reseller__path__startswith=manager.reseller.path), options["id"], "invoice"
        )
        common = {
            "document_id": options["document_id"],
            "billing_date": parse_date_option(options["billing_date"], "--billing-date"),
            "actor": actor,
            "now": self.now(),
        }
        if options["action"] == "approve":
            invoice = approve_invoice(invoice, due_date=parse_date_option(options["due_date"], "--due-date"), **common)
        elif options["action"] == "revoke":
            invoice = revoke_invoice_approval(invoice, comment=options["comment"], **common)
        else:
            invoice = complete_invoice_payment(invoice, **common)
        self.print_json(invoice_dict(invoice))
