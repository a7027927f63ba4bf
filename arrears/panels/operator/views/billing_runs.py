"""Billing runs: the reseller's billed days with their counts per stage, how far billing has caught up, and
"Run billing now" — queued for the task consumer, its progress on the page (polled by htmx) until done."""

import django_tables2 as tables
from django.contrib import messages
from django.core.cache import cache
from django.shortcuts import redirect
from django.urls import path

from arrears.billing.engine import dates_to_bill
from arrears.billing.errors import BillingRunAlreadyRequested
from arrears.billing.models import BillingRequest, BillingRun
from arrears.billing.services import request_billing_run
from arrears.billing.tasks import run_billing_request, step_cache_key
from arrears.core import clock
from arrears.events.models import Event
from arrears.panels.lists import page_number, page_size
from arrears.panels.operator.access import BILL, operator_view
from arrears.panels.operator.pages import page
from arrears.panels.templatetags.panels import count, day, moment

RECENT_REQUESTS = 5

# (counts key, column header) in the order the engine runs its stages.
STAGES = (
    ("charges_created", "Charges created"),
    ("charges_closed", "Charges closed"),
    ("invoices_closed", "Invoices closed"),
    ("payments_created", "Payments created"),
    ("payments_paid_from_balance", "Paid from balance"),
    ("payments_expired", "Payments expired"),
    ("subscriptions_blocked", "Subscriptions blocked"),
    ("subscriptions_unblocked", "Subscriptions unblocked"),
    ("due_date_reminders", "Due date reminders"),
    ("billing_day_reminders", "Billing day reminders"),
)
NUM = {"td": {"class": "num"}, "th": {"class": "num"}}


class _StageColumn(tables.Column):
    """One count of the run's ``counts`` JSON; not sortable (it is not a column of the table)."""

    def __init__(self, key: str, header: str):
        super().__init__(verbose_name=header, accessor="counts", orderable=False, attrs=NUM, empty_values=())
        self.key = key

    def render(self, value):
        return count((value or {}).get(self.key, 0))


class BillingRunTable(tables.Table):
    date = tables.Column(verbose_name="Billing day", order_by=("date",))

    class Meta:
        attrs = {"class": "data"}
        order_by = ("-date",)
        empty_text = "No billing day has run yet."
        orderable = True

    noun_plural = "billing days"
    empty_hint = "Billing starts on the first subscription's start date; Run billing now bills every due day."

    def __init__(self, *args, tz: str, **kwargs):
        extra = [(key, _StageColumn(key, header)) for key, header in STAGES]
        extra.append(("finished_at", tables.Column(verbose_name="Finished", order_by=("finished_at",))))
        super().__init__(*args, extra_columns=extra, **kwargs)
        self.tz = tz

    def render_date(self, value):
        return day(value)

    def render_finished_at(self, value):
        return moment(value, self.tz)


def _catch_up(reseller, now) -> dict:
    today = clock.local_date(now, reseller.timezone)
    last = BillingRun.objects.filter(reseller=reseller).order_by("-date").values_list("date", flat=True).first()
    due = dates_to_bill(reseller, today)
    return {"today": today, "last": last, "due": len(due), "first_due": due[0] if due else None}


def _progress_context(request, billing_request: BillingRequest | None) -> dict:
    step = ""
    if billing_request is not None and billing_request.status == BillingRequest.Status.RUNNING:
        step = cache.get(step_cache_key(billing_request.pk)) or ""
    counts = billing_request.counts if billing_request is not None else {}
    return {
        "billing_request": billing_request,
        "live_step": step,
        "tz": request.operator.reseller.timezone,
        "request_counts": [(label, counts.get(key, 0)) for key, label in STAGES],
    }


def _latest_request(reseller) -> BillingRequest | None:
    return BillingRequest.objects.filter(reseller=reseller).order_by("-id").first()


def _runs_page(request, *, status: int = 200):
    reseller = request.operator.reseller
    table = BillingRunTable(BillingRun.objects.filter(reseller=reseller), request=request, tz=reseller.timezone)
    table.paginate(page=page_number(request), per_page=page_size(request))
    requests = list(BillingRequest.objects.filter(reseller=reseller).order_by("-id")[:RECENT_REQUESTS])
    latest = requests[0] if requests else None
    last_run = (
        BillingRun.objects.filter(reseller=reseller)
        .order_by("-finished_at")
        .values_list("finished_at", flat=True)
        .first()
    )
    # The latest failure of the scheduled billing, while no day has been billed since it (then it is over).
    failure = Event.objects.filter(reseller=reseller, type="billing.failed").order_by("-id").first()
    if failure is not None and last_run is not None and last_run > failure.occurred_at:
        failure = None
    return page(
        request,
        "operator/billing_runs.html",
        section="billing_runs",
        title="Billing runs",
        table=table,
        catch_up=_catch_up(reseller, clock.wall_clock()),
        requests=requests,
        can_run=request.operator.can_bill,
        running=latest is not None and latest.active,
        failure=failure,
        status=status,
        **_progress_context(request, latest),
    )


@operator_view()
def billing_run_list(request):
    return _runs_page(request)


@operator_view()
def billing_run_progress(request):
    """The progress fragment htmx polls every 2 s while a request is queued or running; once it is done the
    fragment comes without its trigger, and the polling stops."""
    latest = _latest_request(request.operator.reseller)
    response = page(
        request,
        "operator/billing_run_progress.html",
        section="billing_runs",
        title="Billing progress",
        **_progress_context(request, latest),
    )
    if request.htmx and (latest is None or not latest.active):
        # The poll that sees the end reloads the page once, so the runs table shows the new days; the reloaded
        # fragment has no trigger, and nothing polls any more.
        response["HX-Refresh"] = "true"
    return response


@operator_view(BILL)
def billing_run_request(request):
    if request.method != "POST":
        return redirect("operator:billing_runs")
    try:
        request_billing_run(
            request.operator.reseller, actor=request.operator.actor, now=clock.wall_clock(), start=run_billing_request
        )
    except BillingRunAlreadyRequested as error:
        messages.error(
            request,
            f"Billing is already queued or running for {request.operator.reseller.name}: "
            f"wait until it is done, then run it again. · {error.code}",
        )
        return _runs_page(request, status=409)
    messages.success(request, "Billing is queued: the progress shows below until every due day is billed.")
    return redirect("operator:billing_runs")


urlpatterns = [
    path("billing-runs/", billing_run_list, name="billing_runs"),
    path("billing-runs/progress/", billing_run_progress, name="billing_run_progress"),
    path("billing-runs/run/", billing_run_request, name="billing_run_request"),
]
