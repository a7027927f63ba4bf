"""The dashboard: the ERP hand-off board. Which invoices is the ERP late on, which payments are stuck, did the
billing runs and the deliveries go through, and when did the ERP last call."""

from dataclasses import dataclass
from datetime import date, timedelta
from urllib.parse import urlencode

from django.core.cache import cache
from django.db.models import Count, Max, Min, Q, Sum
from django.urls import path, reverse

from arrears.billing.models import BillingRun
from arrears.core import clock
from arrears.invoices.models import Invoice
from arrears.notifications.models import Delivery
from arrears.panels.operator.access import operator_view
from arrears.panels.operator.pages import page
from arrears.payments.models import Payment
from arrears.tenants.models import ApiToken

S = Payment.Status
UNPAID = (S.WAITING_FOR_PAYMENT, S.EXPIRED)
PAID = (S.COMPLETED, S.PAID_FROM_BALANCE)
TREND_DAYS = 90
TREND_CACHE_SECONDS = 300
OLDEST_SHOWN = 8
RUNS_SHOWN = 5
RECENT_RUNS_SCANNED = 62


def _url(name: str, **query) -> str:
    return f"{reverse(name)}?{urlencode(query)}" if query else reverse(name)


@dataclass
class TrendPoint:
    day: date
    closed: int
    approved: int
    paid: int


def _trend(reseller, today: date) -> list[TrendPoint]:
    """Per billing day of the last 90 days (the day a period ended): invoices closed, approved, paid."""
    rows = (
        Invoice.objects.filter(
            reseller=reseller,
            status=Invoice.Status.CLOSED,
            to_date__gt=today - timedelta(days=TREND_DAYS),
            to_date__lte=today,
        )
        .values("to_date")
        .annotate(
            closed=Count("id"),
            approved=Count("id", filter=Q(approved=True)),
            paid=Count("id", filter=Q(payment__status__in=PAID)),
        )
        .order_by("to_date")
    )
    return [TrendPoint(row["to_date"], row["closed"], row["approved"], row["paid"]) for row in rows]


def _cached_trend(reseller, today: date) -> list[TrendPoint]:
    """The trend, computed at most once every few minutes per reseller and day: it aggregates every invoice of
    the last 90 days, and a manager who reloads the board wants the live counts above it, not a fresh chart."""
    key = f"operator-dashboard-trend:{reseller.pk}:{today.isoformat()}"
    points = cache.get(key)
    if points is None:
        points = _trend(reseller, today)
        cache.set(key, points, TREND_CACHE_SECONDS)
    return points


def _chart(points: list[TrendPoint]) -> dict:
    """Grouped bars as SVG geometry: one group per billing day, the y axis in whole invoices."""
    width, height, left, bottom, top = 720, 220, 40, 28, 10
    if not points:
        return {"bars": [], "ticks": [], "labels": [], "width": width, "height": height}
    peak = max(max(p.closed, p.approved, p.paid) for p in points) or 1
    step = max(1, -(-peak // 4))
    ceiling = step * 4
    plot_w, plot_h = width - left - 8, height - bottom - top
    group_w = plot_w / len(points)
    bar_w = max(2.0, min(18.0, group_w / 4))
    bars, labels = [], []
    for index, point in enumerate(points):
        x0 = left + index * group_w + (group_w - 3 * bar_w) / 2
        for offset, (series, value) in enumerate(
            (("closed", point.closed), ("approved", point.approved), ("paid", point.paid))
        ):
            bar_h = plot_h * value / ceiling
            bars.append(
                {
                    "x": round(x0 + offset * bar_w, 1),
                    "y": round(top + plot_h - bar_h, 1),
                    "w": round(bar_w - 1, 1),
                    "h": round(bar_h, 1),
                    "series": series,
                    "title": f"{point.day.isoformat()}: {value} {series}",
                }
            )
        labels.append({"x": round(left + index * group_w + group_w / 2, 1), "text": point.day.strftime("%d %b")})
    ticks = [
        {"y": round(top + plot_h - plot_h * value / ceiling, 1), "value": value}
        for value in range(0, ceiling + 1, step)
    ]
    return {
        "bars": bars,
        "ticks": ticks,
        "labels": labels,
        "width": width,
        "height": height,
        "left": left,
        "right": width - 8,
        "baseline": top + plot_h,
        "label_y": height - 8,
    }


@operator_view()
def dashboard(request):
    reseller = request.operator.reseller
    now = clock.wall_clock()
    today = clock.local_date(now, reseller.timezone)
    invoices = Invoice.objects.filter(reseller=reseller)
    payments = Payment.objects.filter(reseller=reseller)

    # Every card in one pass over the unpaid payments, index-only (payment_erp_board_idx holds the status, the
    # mode, the due date, the creation time and the total). An ERP invoice awaits approval while its payment has
    # no due date and is approved once it has one (R9); the payment carries its invoice's mode (R10).
    erp = Q(managed_externally=True)
    waiting, expired_ = Q(status=S.WAITING_FOR_PAYMENT), Q(status=S.EXPIRED)
    awaiting = erp & waiting & Q(due_date__isnull=True)
    approved = erp & Q(due_date__isnull=False)
    soon = waiting & Q(due_date__gte=today, due_date__lte=today + timedelta(days=7))
    cards = payments.filter(status__in=UNPAID).aggregate(
        awaiting_count=Count("id", filter=awaiting),
        awaiting_oldest=Min("created_at", filter=awaiting),
        approved_count=Count("id", filter=approved),
        approved_amount=Sum("total", filter=approved),
        expiring_count=Count("id", filter=soon),
        expiring_amount=Sum("total", filter=soon),
        expired_count=Count("id", filter=expired_),
        expired_amount=Sum("total", filter=expired_),
    )
    awaiting_summary = {"count": cards["awaiting_count"], "oldest": cards["awaiting_oldest"]}
    approved_unpaid = {"count": cards["approved_count"], "amount": cards["approved_amount"]}
    expiring = {"count": cards["expiring_count"], "amount": cards["expiring_amount"]}
    expired = {"count": cards["expired_count"], "amount": cards["expired_amount"]}
    oldest_waiting = list(
        invoices.filter(
            pk__in=payments.filter(awaiting).order_by("created_at", "id").values("invoice_id")[:OLDEST_SHOWN]
        ).select_related("account", "payment")
    )
    for invoice in oldest_waiting:
        invoice.days_waiting = (today - clock.local_date(invoice.payment.created_at, reseller.timezone)).days
    oldest_waiting.sort(key=lambda invoice: (-invoice.days_waiting, invoice.pk))
    failed_deliveries = Delivery.objects.filter(event__reseller=reseller, status=Delivery.Status.FAILED).count()
    # The last days that did something: most days of a month close nothing, and five rows of zeros say little.
    recent = list(BillingRun.objects.filter(reseller=reseller).order_by("-date")[:RECENT_RUNS_SCANNED])
    runs = [run for run in recent if any(run.counts.values())][:RUNS_SHOWN] or recent[:RUNS_SHOWN]
    erp_call = ApiToken.objects.filter(manager__reseller=reseller, revoked_at__isnull=True).aggregate(
        last=Max("last_used_at")
    )["last"]
    points = _cached_trend(reseller, today)

    return page(
        request,
        "operator/dashboard.html",
        section="dashboard",
        title="Dashboard",
        today=today,
        tz=reseller.timezone,
        currency=reseller.currency,
        awaiting=awaiting_summary,
        oldest_waiting=oldest_waiting,
        oldest_days=(today - clock.local_date(awaiting_summary["oldest"], reseller.timezone)).days
        if awaiting_summary["oldest"]
        else None,
        approved_unpaid=approved_unpaid,
        expiring=expiring,
        expired=expired,
        failed_deliveries=failed_deliveries,
        runs=runs,
        erp_call=erp_call,
        points=points,
        chart=_chart(points),
        links={
            # Unpaid: a cancelled payment's invoice is not waiting for anyone (R35).
            "awaiting": _url(
                "operator:invoices",
                status="closed",
                managed_externally="yes",
                approved="no",
                payment="unpaid",
                sort="to_date",
            ),
            "approved_unpaid": _url("operator:invoices", approved="yes", payment="unpaid"),
            "expiring": _url(
                "operator:payments",
                status="waiting_for_payment",
                due_from=today.isoformat(),
                due_to=(today + timedelta(days=7)).isoformat(),
            ),
            "expired": _url("operator:payments", status="expired"),
            "failed_deliveries": _url("operator:deliveries", status="failed"),
            "runs": _url("operator:billing_runs"),
            "tokens": _url("operator:api_tokens"),
        },
    )


urlpatterns = [path("", dashboard, name="dashboard")]
