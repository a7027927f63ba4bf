"""Webhook endpoints and the delivery log: the endpoints with their state, adding one (its secret shown once), an
endpoint's page with its deliveries and their attempts, Resend, Send test event, re-enabling a disabled endpoint,
and every delivery of the reseller's events (e-mail and webhook) with its filters."""

from zoneinfo import ZoneInfo

import django_filters
import django_tables2 as tables
from babel.dates import format_date
from django import forms
from django.contrib import messages
from django.db.models import Prefetch
from django.middleware.csrf import get_token
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import url_has_allowed_host_and_scheme

from arrears.core import clock
from arrears.core.errors import ArrearsError
from arrears.events.selectors import timeline_of
from arrears.notifications import webhooks as service
from arrears.notifications.catalog import NOTIFIABLE_EVENTS
from arrears.notifications.handlers import create_webhook_endpoint
from arrears.notifications.models import Delivery, DeliveryAttempt, EventHandler, WebhookEndpoint
from arrears.panels.forms import PanelForm
from arrears.panels.lists import page_number, page_size
from arrears.panels.operator.access import ADMIN, operator_view
from arrears.panels.operator.pages import page
from arrears.panels.templatetags.panels import LOCALE, badge, event_label, moment

# The secret of an endpoint just created waits here for its one display on the endpoint's page.
NEW_SECRET_KEY = "operator_new_webhook_secret"
SECTION = "webhooks"


def _tz(request) -> str:
    return request.operator.reseller.timezone


def _state_badge(endpoint: WebhookEndpoint):
    return badge("active", "Active") if endpoint.active else badge("disabled", "Disabled")


def _resend_button(delivery: Delivery, *, csrf_token: str, next_url: str):
    return format_html(
        '<form method="post" action="{}" class="inline-form"><input type="hidden" name="csrfmiddlewaretoken" '
        'value="{}"><input type="hidden" name="next" value="{}"><button type="submit" class="small" '
        'aria-label="Resend delivery {}">Resend</button></form>',
        reverse("operator:delivery_resend", args=[delivery.pk]),
        csrf_token,
        next_url,
        delivery.pk,
    )


def _error_cell(text: str):
    if not text:
        return "—"
    short = text if len(text) <= 64 else text[:63] + "…"
    return format_html('<span class="small" title="{}">{}</span>', text, short)


def _created_cell(value, tz: str):
    """The day on one line, the time with its zone below: the lists stay narrow enough for 1280 px."""
    local = value.astimezone(ZoneInfo(tz or "UTC"))
    return format_html(
        '<time datetime="{}" title="{}">{}<span class="sub">{} {}</span></time>',
        value.isoformat(),
        tz,
        format_date(local, "d MMM y", locale=LOCALE),
        local.strftime("%H:%M"),
        local.tzname(),
    )


def _event_cell(delivery: Delivery):
    event = delivery.event
    return format_html(
        '{}<span class="sub">event #{} · {} #{}</span>',
        event_label(event.type),
        event.pk,
        event.subject_type,
        event.subject_id,
    )


# --- The endpoints ------------------------------------------------------------------------------------------


class EndpointTable(tables.Table):
    url = tables.Column(verbose_name="URL", order_by=("url", "id"), attrs={"td": {"class": "col-url"}})
    state = tables.Column(verbose_name="State", accessor="active", order_by=("-active", "id"), empty_values=())
    consecutive_failures = tables.Column(
        verbose_name="Failures in a row",
        order_by=("consecutive_failures", "id"),
        attrs={"td": {"class": "num"}, "th": {"class": "num"}},
    )
    last_delivery = tables.Column(
        verbose_name="Last delivery", accessor="last_delivery_at", empty_values=(), order_by=("last_delivery_at", "id")
    )

    class Meta:
        attrs = {"class": "data compact"}
        order_by = ("id",)
        empty_text = "No webhook endpoint yet."
        orderable = True

    noun_plural = "endpoints"
    empty_hint = "Add one to post this reseller's events, signed, to your ERP or any receiver."

    def __init__(self, *args, tz: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.tz = tz

    def render_url(self, record):
        link = format_html(
            '<a href="{}" class="long-text">{}</a>', reverse("operator:webhook", args=[record.pk]), record.url
        )
        if record.description:
            return format_html('{}<span class="sub">{}</span>', link, record.description)
        return link

    def render_state(self, record):
        if record.active:
            return _state_badge(record)
        return format_html(
            '{}<span class="sub">since {}</span>', _state_badge(record), moment(record.disabled_at, self.tz)
        )

    def render_last_delivery(self, record):
        if record.last_delivery_at is None:
            return format_html('<span class="muted">{}</span>', "None yet")
        return format_html("{} {}", moment(record.last_delivery_at, self.tz), badge(record.last_delivery_status))


class EndpointForm(PanelForm):
    # A plain text field: the service checks the URL (https only) and answers with its own code.
    url = forms.CharField(
        label="URL",
        max_length=2000,
        help_text="Where the events are posted: https (plain http only on 127.0.0.1 or localhost).",
        widget=forms.URLInput(attrs={"placeholder": "https://erp.example.com/arrears-hooks"}),
    )
    description = forms.CharField(
        label="Description",
        max_length=200,
        required=False,
        help_text="What receives the events, e.g. \u201cERP invoice sync\u201d.",
    )

    pointers = {"/url": "url", "/description": "description"}


@operator_view()
def webhook_list(request):
    operator = request.operator
    table = EndpointTable(service.endpoints_of(operator.reseller), request=request, tz=_tz(request))
    table.paginate(page=page_number(request), per_page=page_size(request))
    return page(request, "operator/webhooks.html", section=SECTION, title="Webhook endpoints", table=table)


@operator_view()
def webhook_create(request):
    operator = request.operator
    form = EndpointForm()
    status = 200
    if request.method == "POST":
        operator.require(ADMIN)
        form = EndpointForm(request.POST)
        if form.is_valid():
            try:
                endpoint = create_webhook_endpoint(
                    operator.reseller,
                    url=form.cleaned_data["url"],
                    description=form.cleaned_data["description"].strip(),
                    actor=operator.actor,
                    now=clock.wall_clock(),
                )
            except ArrearsError as error:
                form.add_service_error(error)
            else:
                request.session[NEW_SECRET_KEY] = {"endpoint_id": endpoint.pk, "secret": endpoint.secret}
                messages.success(
                    request, f"The endpoint {endpoint.url} is added. Copy its secret now: it is shown only once."
                )
                return redirect("operator:webhook", endpoint_id=endpoint.pk)
        status = 400
    return page(request, "operator/webhook_form.html", section=SECTION, title="Add endpoint", form=form, status=status)


# --- An endpoint and its delivery log ------------------------------------------------------------------------


class _DeliveriesTable(tables.Table):
    """The columns and cells both delivery lists share: an endpoint's log and the reseller's deliveries."""

    created_at = tables.Column(verbose_name="Created", order_by=("created_at", "id"))
    event = tables.Column(
        verbose_name="Event",
        accessor="event__type",
        order_by=("event__type", "id"),
        attrs={"td": {"class": "col-event"}},
    )
    status = tables.Column(verbose_name="Status", order_by=("status", "id"))
    attempts = tables.Column(
        verbose_name="Attempts", attrs={"td": {"class": "num"}, "th": {"class": "num"}}, order_by=("attempts", "id")
    )
    last_error = tables.Column(
        verbose_name="Last error", empty_values=(), orderable=False, attrs={"td": {"class": "col-error"}}
    )
    actions = tables.Column(verbose_name="", empty_values=(), orderable=False)

    class Meta:
        attrs = {"class": "data compact"}
        order_by = ("-created_at",)
        orderable = True

    noun_plural = "deliveries"

    def __init__(self, *args, tz: str, can_resend: bool, csrf_token: str, next_url: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.tz, self.csrf_token, self.next_url = tz, csrf_token, next_url
        if not can_resend:
            self.columns.hide("actions")

    def render_created_at(self, value):
        return _created_cell(value, self.tz)

    def render_event(self, record):
        return _event_cell(record)

    def render_last_error(self, record):
        return _error_cell(record.last_error)

    def render_actions(self, record):
        return _resend_button(record, csrf_token=self.csrf_token, next_url=self.next_url)


class DeliveryLogTable(_DeliveriesTable):
    log = tables.Column(
        verbose_name="Attempt log", empty_values=(), orderable=False, attrs={"td": {"class": "col-log"}}
    )

    class Meta(_DeliveriesTable.Meta):
        empty_text = "Nothing was delivered to this endpoint yet."
        sequence = ("created_at", "event", "status", "attempts", "log", "last_error", "actions")

    empty_hint = "A webhook event handler that uses this endpoint posts here when its event happens."

    def render_status(self, record):
        if record.status == Delivery.Status.PENDING and record.next_attempt_at and record.attempts:
            return format_html(
                '{}<span class="sub">next try {}</span>', badge(record.status), moment(record.next_attempt_at, self.tz)
            )
        return badge(record.status)

    def render_log(self, record):
        attempts: list[DeliveryAttempt] = list(record.log.all())
        if not attempts:
            return format_html('<span class="muted">{}</span>', "Not tried yet")
        return format_html(
            '<ol class="plain-list attempt-log">{}</ol>',
            format_html_join(
                "",
                "<li>{} · {} · {} ms</li>",
                (
                    (
                        moment(a.attempted_at, self.tz),
                        format_html('<span class="attempt-ok">{}</span>', a.status_code or "OK")
                        if a.succeeded
                        else format_html('<span class="attempt-failed">{}</span>', a.status_code or "no answer"),
                        a.duration_ms,
                    )
                    for a in attempts
                ),
            ),
        )


def _endpoint_page(request, endpoint: WebhookEndpoint, *, secret: str | None = None):
    operator = request.operator
    deliveries = (
        Delivery.objects.filter(endpoint=endpoint)
        .select_related("event")
        .prefetch_related(Prefetch("log", queryset=DeliveryAttempt.objects.order_by("id")))
    )
    table = DeliveryLogTable(
        deliveries,
        request=request,
        tz=_tz(request),
        can_resend=operator.is_admin and endpoint.active,
        csrf_token=get_token(request),
        next_url=request.get_full_path(),
    )
    table.paginate(page=page_number(request), per_page=page_size(request))
    handlers = list(EventHandler.objects.filter(endpoint=endpoint).order_by("id"))
    return page(
        request,
        "operator/webhook.html",
        section=SECTION,
        title=endpoint.url,
        endpoint=endpoint,
        table=table,
        secret=secret,
        handlers=handlers,
        tz=_tz(request),
        events=timeline_of(operator.reseller.pk, endpoint)[:20],
    )


@operator_view()
def webhook_detail(request, endpoint_id: int):
    endpoint = service.endpoint_of(request.operator.reseller, endpoint_id)
    secret = None
    waiting = request.session.get(NEW_SECRET_KEY)
    if waiting and waiting.get("endpoint_id") == endpoint.pk:
        secret = waiting["secret"]
        del request.session[NEW_SECRET_KEY]  # shown this once, never again
    return _endpoint_page(request, endpoint, secret=secret)


@operator_view(ADMIN)
def webhook_test(request, endpoint_id: int):
    endpoint = service.endpoint_of(request.operator.reseller, endpoint_id)
    if request.method != "POST":
        return redirect("operator:webhook", endpoint_id=endpoint.pk)
    outcome = service.send_test_event(endpoint, actor=request.operator.actor, now=clock.wall_clock())
    if outcome.succeeded:
        messages.success(
            request,
            f"The test message {outcome.message_id} was accepted: HTTP {outcome.status_code} "
            f"in {outcome.duration_ms} ms.",
        )
    else:
        messages.error(
            request,
            f"The test message {outcome.message_id} was not accepted ({outcome.duration_ms} ms): {outcome.error}",
        )
    return redirect("operator:webhook", endpoint_id=endpoint.pk)


@operator_view(ADMIN)
def webhook_enable(request, endpoint_id: int):
    endpoint = service.endpoint_of(request.operator.reseller, endpoint_id)
    if request.method != "POST":
        return redirect("operator:webhook", endpoint_id=endpoint.pk)
    try:
        service.enable_webhook_endpoint(endpoint, actor=request.operator.actor, now=clock.wall_clock())
    except ArrearsError as error:
        messages.error(request, f"{error.detail[:1].upper()}{error.detail[1:]}. · {error.code}")
    else:
        messages.success(
            request,
            "The endpoint is enabled again; its failure count starts from zero. Deliveries "
            "cancelled while it was disabled stay cancelled: resend those that still matter.",
        )
    return redirect("operator:webhook", endpoint_id=endpoint.pk)


@operator_view(ADMIN)
def delivery_resend(request, delivery_id: int):
    delivery = service.delivery_of(request.operator.reseller, delivery_id)
    next_url = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        endpoint = delivery.endpoint
        next_url = (
            reverse("operator:webhook", args=[endpoint.pk])
            if endpoint is not None and endpoint.reseller_id == request.operator.reseller.pk
            else reverse("operator:deliveries")
        )
    if request.method != "POST":
        return redirect(next_url)
    try:
        service.resend_delivery(delivery, actor=request.operator.actor, now=clock.wall_clock())
    except ArrearsError as error:
        messages.error(request, f"{error.detail[:1].upper()}{error.detail[1:]}. · {error.code}")
    else:
        messages.success(request, f"Delivery #{delivery.pk} to {delivery.recipient} is being sent again.")
    return redirect(next_url)


# --- Every delivery --------------------------------------------------------------------------------------------


class DeliveryFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(label="Status", choices=Delivery.Status.choices, empty_label="Any")
    channel = django_filters.ChoiceFilter(label="Channel", choices=EventHandler.Channel.choices, empty_label="Any")
    event = django_filters.ChoiceFilter(
        label="Event",
        field_name="event__type",
        empty_label="Any",
        choices=[(name, event_label(name)) for name in NOTIFIABLE_EVENTS],
    )

    class Meta:
        model = Delivery
        fields: list[str] = []


class DeliveryTable(_DeliveriesTable):
    channel = tables.Column(verbose_name="Channel", order_by=("channel", "id"))
    recipient = tables.Column(
        verbose_name="Recipient", order_by=("recipient", "id"), attrs={"td": {"class": "col-recipient"}}
    )

    class Meta(_DeliveriesTable.Meta):
        empty_text = "No delivery matches these filters."
        sequence = ("created_at", "event", "channel", "recipient", "status", "attempts", "last_error", "actions")

    empty_hint = "Deliveries are written when an event this reseller has a handler for happens."

    def render_channel(self, record):
        return record.get_channel_display()

    def render_recipient(self, record):
        if record.endpoint_id and record.endpoint.reseller_id == record.event.reseller_id:
            return format_html(
                '<a href="{}" class="long-text">{}</a>',
                reverse("operator:webhook", args=[record.endpoint_id]),
                record.recipient,
            )
        return record.recipient or "—"

    def render_status(self, record):
        return badge(record.status)

    def render_actions(self, record):
        if record.endpoint_id and not record.endpoint.active:
            return format_html(
                '<span class="small muted" title="{}">{}</span>',
                "Enable the endpoint again to resend its deliveries",
                "Disabled",
            )
        return super().render_actions(record)


@operator_view()
def delivery_list(request):
    operator = request.operator
    rows = service.deliveries_of(operator.reseller).select_related("event", "endpoint")
    delivery_filter = DeliveryFilter(request.GET, queryset=rows)
    table = DeliveryTable(
        delivery_filter.qs if delivery_filter.is_valid() else Delivery.objects.none(),
        request=request,
        tz=_tz(request),
        can_resend=operator.is_admin,
        csrf_token=get_token(request),
        next_url=request.get_full_path(),
    )
    table.paginate(page=page_number(request), per_page=page_size(request))
    template = "operator/deliveries_results.html" if request.htmx else "operator/deliveries.html"
    return page(request, template, section=SECTION, title="Deliveries", filter=delivery_filter, table=table)


urlpatterns = [
    path("webhooks/", webhook_list, name="webhooks"),
    path("webhooks/add/", webhook_create, name="webhook_create"),
    path("webhooks/<int:endpoint_id>/", webhook_detail, name="webhook"),
    path("webhooks/<int:endpoint_id>/test/", webhook_test, name="webhook_test"),
    path("webhooks/<int:endpoint_id>/enable/", webhook_enable, name="webhook_enable"),
    path("deliveries/", delivery_list, name="deliveries"),
    path("deliveries/<int:delivery_id>/resend/", delivery_resend, name="delivery_resend"),
]
