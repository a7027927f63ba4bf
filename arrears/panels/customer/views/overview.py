"""The overview: the balance, what is waiting for payment or expired (how many, how much), the next due date, the
payments to make and the latest invoices."""

from django.db.models import Count, F, Min, Q, Sum
from django.urls import path

from arrears.invoices.models import Invoice
from arrears.invoices.selectors import invoices_of_account
from arrears.panels.customer.access import customer_view
from arrears.panels.customer.pages import page
from arrears.payments.models import Payment
from arrears.payments.selectors import payments_of_account

S = Payment.Status
LATEST = 5


def payment_summary(account) -> dict:
    """Counts and sums of the account's waiting and expired payments, and the next due date: one query."""
    waiting, expired = Q(status=S.WAITING_FOR_PAYMENT), Q(status=S.EXPIRED)
    summary = payments_of_account(account).aggregate(
        waiting_count=Count("id", filter=waiting),
        waiting_amount=Sum("total", filter=waiting),
        expired_count=Count("id", filter=expired),
        expired_amount=Sum("total", filter=expired),
        being_prepared=Count("id", filter=waiting & Q(type=Payment.Type.RENDERED_SERVICES, due_date__isnull=True)),
        next_due_date=Min("due_date", filter=waiting),
    )
    for key in ("waiting_amount", "expired_amount"):
        summary[key] = summary[key] or 0
    return summary


@customer_view
def overview(request):
    account = request.customer.account
    summary = payment_summary(account)
    to_pay = list(
        payments_of_account(account)
        .filter(status__in=(S.WAITING_FOR_PAYMENT, S.EXPIRED, S.PROCESSING))
        .select_related("invoice")
        .order_by(F("due_date").asc(nulls_last=True), "id")[:LATEST]
    )
    latest = list(
        invoices_of_account(account).filter(status=Invoice.Status.CLOSED).order_by("-billing_date", "-id")[:LATEST]
    )
    next_due = (
        next(
            (
                payment
                for payment in to_pay
                if payment.due_date == summary["next_due_date"] and payment.status == S.WAITING_FOR_PAYMENT
            ),
            None,
        )
        if summary["next_due_date"]
        else None
    )
    return page(
        request,
        "customer/overview.html",
        section="overview",
        title="Overview",
        summary=summary,
        to_pay=to_pay,
        latest=latest,
        next_due=next_due,
    )


urlpatterns = [
    path("", overview, name="overview"),
]
