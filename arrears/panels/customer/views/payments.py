"""A customer's payments: the list; the payment page with what it takes to pay it (from the balance, R18, or
through a payment service, R19) and its attempts; paying; and the page a payment service returns the customer to,
which asks the connector instead of trusting its query string."""

import django_tables2 as tables
from django.contrib import messages
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from arrears.core import clock
from arrears.core.errors import ArrearsError
from arrears.gateways.models import PaymentAttempt
from arrears.gateways.selectors import attempt_of_account, attempts_of, gateway_methods_for
from arrears.gateways.services import check_attempt, start_attempt
from arrears.panels.customer.access import customer_view
from arrears.panels.customer.pages import page
from arrears.panels.customer.paying import payment_options
from arrears.panels.customer.tables import TABLE_ATTRS, cell
from arrears.panels.lists import page_number, page_size
from arrears.panels.templatetags.panels import badge, day, format_money
from arrears.payments.models import Payment
from arrears.payments.selectors import payment_of_account, payments_of_account
from arrears.payments.services import pay_from_balance

A = PaymentAttempt.Status
# How often the return page asks the connector before it says the payment is still processing.
RETURN_POLLS = 6


def payment_subject(payment: Payment) -> str:
    if payment.type == Payment.Type.TOP_UP:
        return "Balance top-up"
    invoice = payment.invoice  # a payment for rendered services has one (payment_invoice_only_for_rendered_services)
    return f"Invoice {invoice.document_id}" if invoice is not None and invoice.document_id else "Invoice"


class PaymentTable(tables.Table):
    number = tables.Column(
        verbose_name="Payment",
        accessor="document_id",
        order_by=("document_id", "id"),
        attrs=cell("Payment", nowrap=True),
    )
    total = tables.Column(verbose_name="Total", order_by=("total", "id"), attrs=cell("Total", num=True))
    status = tables.Column(verbose_name="Status", order_by=("status", "id"), attrs=cell("Status", nowrap=True))
    due_date = tables.Column(
        verbose_name="Due date", empty_values=(), order_by=("due_date", "id"), attrs=cell("Due date")
    )
    paid = tables.Column(
        verbose_name="Paid", accessor="closed_at", empty_values=(), order_by=("closed_at", "id"), attrs=cell("Paid")
    )

    class Meta:
        attrs = TABLE_ATTRS
        orderable = True
        empty_text = "No payment yet."

    caption = "Payments"
    noun_plural = "payments"
    empty_hint = "A payment is created when an invoice is issued, or when you top up your balance."

    def render_number(self, record):
        link = format_html('<a href="{}">{}</a>', reverse("customer:payment", args=[record.pk]), record.document_id)
        if record.invoice_id is None:
            return format_html('{}<span class="sub">{}</span>', link, "Balance top-up")
        return format_html(
            '{}<span class="sub">for invoice {}</span>', link, record.invoice.document_id or "in preparation"
        )

    def render_status(self, record):
        return badge(record.status)

    def render_due_date(self, record):
        if record.due_date is None:
            if record.type == Payment.Type.RENDERED_SERVICES and record.status == Payment.Status.WAITING_FOR_PAYMENT:
                return format_html('<span class="muted">{}</span>', "Once issued")
            return format_html('<span class="muted">{}</span>', "—")
        return day(record.due_date)

    def __init__(self, *args, tz: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.tz = tz

    def render_paid(self, record):
        if record.status not in (Payment.Status.COMPLETED, Payment.Status.PAID_FROM_BALANCE) or not record.closed_at:
            return format_html('<span class="muted">{}</span>', "—")
        how = (
            "from balance"
            if record.status == Payment.Status.PAID_FROM_BALANCE
            else (record.payment_method.name if record.payment_method_id else "")
        )
        when = day(clock.local_date(record.closed_at, self.tz))
        return format_html('{}<span class="sub">{}</span>', when, how) if how else when

    def render_total(self, record):
        total = format_money(record.total, record.currency)
        if record.external_total is None:
            return total
        return format_html(
            '{}<span class="sub">Invoice states {}</span>',
            total,
            format_money(record.external_total, record.external_currency),
        )


@customer_view
def payment_list(request):
    rows = (
        payments_of_account(request.customer.account)
        .select_related("invoice", "payment_method")
        .order_by("-created_at", "-id")
    )
    table = PaymentTable(rows, request=request, tz=request.customer.tz)
    table.paginate(page=page_number(request), per_page=page_size(request))
    return page(request, "customer/payments.html", section="payments", title="Payments", table=table)


def _payment(request, payment_id: int) -> Payment:
    payment = payment_of_account(request.customer.account, payment_id)
    payment.reseller = request.customer.reseller  # the account's: the selector found it within that reseller
    payment.account = request.customer.account
    return payment


def _return_url(request, payment_id: str) -> str:
    """Where the payment service sends the customer back: the return page, absolute; ``{attempt_id}`` is the
    service's to fill in (and ``{payment_id}`` for a top-up, whose payment does not exist yet)."""
    return request.build_absolute_uri(reverse("customer:payments")) + f"{payment_id}/return/?attempt={{attempt_id}}"


@customer_view
def payment_detail(request, payment_id: int):
    payment = _payment(request, payment_id)
    account = request.customer.account
    attempts = attempts_of(payment)
    options = payment_options(payment, account.balance, attempts=attempts, methods=lambda: gateway_methods_for(payment))
    return page(
        request,
        "customer/payment.html",
        section="payments",
        title=f"Payment {payment.document_id}",
        payment=payment,
        invoice=payment.invoice,
        subject=payment_subject(payment),
        attempts=attempts,
        options=options,
        balance_after=account.balance - payment.total,
    )


def _refused(request, error: ArrearsError) -> None:
    detail = error.detail.strip()
    if detail.endswith(")") and "(R" in detail:
        detail = detail[: detail.rindex("(R")].rstrip()
    messages.error(request, f"{detail[:1].upper()}{detail[1:].rstrip('.')}. · {error.code}")


@require_POST
@customer_view
def payment_pay_from_balance(request, payment_id: int):
    payment = _payment(request, payment_id)
    try:
        paid = pay_from_balance(payment, actor=request.customer.actor, now=clock.wall_clock())
    except ArrearsError as error:
        _refused(request, error)
    else:
        messages.success(
            request,
            f"Payment {paid.document_id} of {format_money(paid.total, paid.currency)} is paid "
            f"from your balance. Your balance is now "
            f"{format_money(paid.account.balance, paid.currency)}.",
        )
    return redirect("customer:payment", payment_id=payment.pk)


def to_checkout(attempt: PaymentAttempt):
    """After the POST that opened a checkout, the browser goes on to it through a page of this site (303): the
    strict CSP's ``form-action 'self'`` blocks a form's redirect to another origin, and a GET page also makes
    reloading and going back safe."""
    return HttpResponseRedirect(
        f"{reverse('customer:payment_checkout', args=[attempt.payment_id])}?attempt={attempt.public_id}", status=303
    )


@require_POST
@customer_view
def payment_pay(request, payment_id: int):
    """Pay through a payment service: open a checkout there and send the browser to it."""
    payment = _payment(request, payment_id)
    methods = {str(method.pk): method for method in gateway_methods_for(payment)}
    method = methods.get(request.POST.get("method", ""))
    if method is None:
        messages.error(
            request, "This payment service is not offered for this payment. Choose one of those shown on the page."
        )
        return redirect("customer:payment", payment_id=payment.pk)
    try:
        attempt = start_attempt(
            payment,
            method,
            return_url=_return_url(request, str(payment.pk)),
            actor=request.customer.actor,
            now=clock.wall_clock(),
        )
    except ArrearsError as error:
        _refused(request, error)
        return redirect("customer:payment", payment_id=payment.pk)
    return to_checkout(attempt)


@customer_view
def payment_checkout(request, payment_id: int):
    """On to the payment service's checkout page of an open attempt (a ``Refresh`` header, which the CSP allows,
    and a link); an attempt that is no longer open goes to the return page, which tells its outcome."""
    payment = _payment(request, payment_id)
    attempt = _attempt(request, payment)
    if attempt.status != A.OPEN or not attempt.redirect_url:
        return redirect(f"{reverse('customer:payment_return', args=[payment.pk])}?attempt={attempt.public_id}")
    response = page(
        request,
        "customer/payment_checkout.html",
        section="payments",
        title=f"On to {attempt.connector.name}",
        payment=payment,
        attempt=attempt,
        subject=payment_subject(payment),
    )
    response["Refresh"] = f"0; url={attempt.redirect_url}"
    return response


# --- Back from the payment service -----------------------------------------------------------------------


def _attempt(request, payment: Payment) -> PaymentAttempt:
    """The attempt named in the query string, if it is one of this payment's (of this account): else 404."""
    attempt = attempt_of_account(request.customer.account, request.GET.get("attempt"))
    if attempt.payment_id != payment.pk:
        raise Http404("no such payment attempt")
    return attempt


def _poll_number(request) -> int:
    try:
        return min(max(1, int(request.GET.get("poll", "1"))), RETURN_POLLS)
    except ValueError:
        return 1


OUTCOMES: dict[str, tuple[str, str]] = {
    A.SUCCEEDED: ("good", "Payment received"),
    A.DECLINED: ("bad", "Payment declined"),
    A.CANCELLED: ("bad", "Payment cancelled"),
    A.TIMED_OUT: ("bad", "No answer in time"),
    A.FAILED: ("bad", "The payment could not start"),
}


def _outcome(attempt: PaymentAttempt, payment: Payment, *, poll: int) -> dict:
    name = attempt.connector.name
    charged = format_money(attempt.amount, attempt.currency)
    if attempt.status == A.OPEN:
        if poll >= RETURN_POLLS:
            return {
                "state": "pending",
                "title": "Still processing",
                "text": f"{name} has not confirmed your payment of {charged} yet. We will e-mail you as soon as "
                "it does; you can close this page.",
            }
        return {
            "state": "checking",
            "title": "Checking your payment…",
            "text": f"We are asking {name} about your payment of {charged}.",
        }
    tone, title = OUTCOMES.get(attempt.status, ("bad", attempt.get_status_display()))
    texts: dict[str, str] = {
        A.SUCCEEDED: f"{name} confirmed your payment of {charged}. Thank you!"
        + (" It is credited to your balance." if payment.type == Payment.Type.TOP_UP else ""),
        A.DECLINED: f"{name} declined the payment; nothing was charged. You can try again, or pay another way.",
        A.CANCELLED: "The payment was cancelled at the checkout; nothing was charged. You can pay again at any time.",
        A.TIMED_OUT: f"{name} did not confirm the payment in time, so it is open to pay again. If you were charged "
        "meanwhile, it still counts: we will e-mail you.",
        A.FAILED: f"{name} could not open its checkout; nothing was charged. Please try again in a moment.",
    }
    return {"state": tone, "title": title, "text": texts.get(attempt.status, "")}


def _return_context(request, payment: Payment, attempt: PaymentAttempt, *, poll: int) -> dict:
    return {
        "payment": payment,
        "attempt": attempt,
        "outcome": _outcome(attempt, payment, poll=poll),
        "next_poll": poll + 1,
        "subject": payment_subject(payment),
    }


@customer_view
def payment_return(request, payment_id: int):
    payment = _payment(request, payment_id)
    attempt = _attempt(request, payment)
    return page(
        request,
        "customer/payment_return.html",
        section="payments",
        title="Your payment",
        **_return_context(request, payment, attempt, poll=1),
    )


@require_POST
@customer_view
def payment_return_check(request, payment_id: int):
    """Ask the connector about the attempt (htmx polls this every few seconds) and show what it says. Without
    htmx, the whole return page."""
    payment = _payment(request, payment_id)
    attempt = _attempt(request, payment)
    poll = _poll_number(request)
    if attempt.status == A.OPEN:
        attempt = check_attempt(attempt, now=clock.wall_clock())
        payment = _payment(request, payment_id)
    context = _return_context(request, payment, attempt, poll=poll)
    if request.htmx:
        return render(request, "customer/payment_return_status.html", context)
    return page(request, "customer/payment_return.html", section="payments", title="Your payment", **context)


urlpatterns = [
    path("payments/", payment_list, name="payments"),
    path("payments/<int:payment_id>/", payment_detail, name="payment"),
    path("payments/<int:payment_id>/pay-from-balance/", payment_pay_from_balance, name="payment_pay_from_balance"),
    path("payments/<int:payment_id>/pay/", payment_pay, name="payment_pay"),
    path("payments/<int:payment_id>/checkout/", payment_checkout, name="payment_checkout"),
    path("payments/<int:payment_id>/return/", payment_return, name="payment_return"),
    path("payments/<int:payment_id>/return/check/", payment_return_check, name="payment_return_check"),
]
