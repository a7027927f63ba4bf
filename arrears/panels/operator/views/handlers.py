"""Event handlers and notification templates: the list (own, inherited, platform default), create and edit with
a preview rendered on a real invoice or payment of the reseller, Send test, enable and disable.

Every write goes through the handler services of ``arrears.notifications.handlers`` — the ones the CLI uses — so the
rules, the reference-syntax conditions (``arrears.notifications.conditions``) and the error codes are the same.
"""

from smtplib import SMTPException

from django import forms
from django.contrib import messages
from django.shortcuts import redirect
from django.urls import path

from arrears.core import clock
from arrears.core.errors import ArrearsError
from arrears.core.liquid import TemplateRenderFailed
from arrears.notifications import selectors
from arrears.notifications.catalog import NOTIFIABLE_EVENTS, PLACEHOLDERS
from arrears.notifications.handlers import (
    DEFAULT_RECIPIENTS,
    condition_holds_for,
    create_event_handler,
    draft_event_handler,
    message_for,
    preview_placeholders,
    send_test_message,
    switch_off_event_handler,
    update_event_handler,
)
from arrears.notifications.models import EventHandler, WebhookEndpoint
from arrears.panels.forms import PanelForm
from arrears.panels.operator.access import BILL, operator_view
from arrears.panels.operator.pages import page
from arrears.panels.templatetags.panels import event_label

SECTION = "event_handlers"
CHANNEL_LABELS = {"email": "E-mail", "webhook": "Webhook"}


# --- The list ----------------------------------------------------------------------------------------------


class HandlerFilter(forms.Form):
    event = forms.ChoiceField(
        label="Event", required=False, choices=[("", "Any"), *((name, event_label(name)) for name in NOTIFIABLE_EVENTS)]
    )
    channel = forms.ChoiceField(label="Channel", required=False, choices=[("", "Any"), *CHANNEL_LABELS.items()])


@operator_view()
def handler_list(request):
    operator = request.operator
    handler_filter = HandlerFilter(request.GET)
    wanted = handler_filter.cleaned_data if handler_filter.is_valid() else {}
    overview = selectors.handler_overview(
        operator.reseller, event=wanted.get("event") or None, channel=wanted.get("channel") or None
    )
    groups = [
        {"event": name, "label": event_label(name), "description": NOTIFIABLE_EVENTS[name], "rows": rows}
        for name, rows in overview.items()
    ]
    template = "operator/handlers_results.html" if request.htmx else "operator/handlers.html"
    return page(
        request,
        template,
        section=SECTION,
        title="Event handlers",
        filter=handler_filter,
        groups=groups,
        total=sum(len(group["rows"]) for group in groups),
        filtered=bool(wanted.get("event") or wanted.get("channel")),
    )


@operator_view(BILL)
def handler_disable(request, handler_id: int):
    operator = request.operator
    handler = selectors.visible_handler_of(operator.reseller, handler_id)
    if request.method != "POST":
        return redirect("operator:event_handlers")
    try:
        result = switch_off_event_handler(operator.reseller, handler, actor=operator.actor, now=clock.wall_clock())
    except ArrearsError as error:
        messages.error(request, f"{error.detail[:1].upper()}{error.detail[1:]}. · {error.code}")
        return redirect("operator:event_handlers")
    if result.pk == handler.pk:
        messages.success(request, f"“{handler.name}” is disabled: it sends nothing until you enable it again.")
    else:
        messages.success(
            request,
            f"“{handler.name}” is switched off for {operator.reseller.name}: an inactive "
            f"handler of your own (#{result.pk}) now replaces it. Enable that one to send "
            "the same message from this level.",
        )
    return redirect("operator:event_handlers")


@operator_view(BILL)
def handler_enable(request, handler_id: int):
    operator = request.operator
    handler = selectors.own_handler_of(operator.reseller, handler_id)
    if request.method != "POST":
        return redirect("operator:event_handlers")
    try:
        update_event_handler(handler, active=True, actor=operator.actor, now=clock.wall_clock())
    except ArrearsError as error:
        messages.error(request, f"{error.detail[:1].upper()}{error.detail[1:]}. · {error.code}")
        return redirect("operator:event_handlers")
    messages.success(request, f"“{handler.name}” is enabled.")
    return redirect("operator:event_handlers")


# --- The editor --------------------------------------------------------------------------------------------


class HandlerForm(PanelForm):
    event = forms.ChoiceField(label="Event", choices=[(name, event_label(name)) for name in NOTIFIABLE_EVENTS])
    channel = forms.ChoiceField(
        label="Channel",
        choices=list(CHANNEL_LABELS.items()),
        help_text="A webhook posts the event's placeholders as signed JSON to an endpoint; "
        "it has no recipients, subject or body.",
    )
    endpoint = forms.TypedChoiceField(
        label="Webhook endpoint", required=False, coerce=int, empty_value=None, help_text="Webhook handlers only."
    )
    name = forms.CharField(label="Name", max_length=200)
    recipients = forms.CharField(
        label="Recipients",
        required=False,
        max_length=2000,
        help_text="Liquid; addresses separated by commas. Default: {{ account.email }}",
    )
    subject = forms.CharField(label="Subject", required=False, max_length=2000)
    body = forms.CharField(label="Body", required=False, widget=forms.Textarea(attrs={"rows": 12}))
    condition = forms.CharField(
        label="Condition",
        required=False,
        max_length=2000,
        help_text="Empty: always. Liquid (payment.days_left == 3) or the reference's query syntax "
        '(payment.days_left = 3 AND invoice.has_attached = true, account.email include? "@example.com").',
    )
    active = forms.BooleanField(label="Active", required=False)
    preview_on = forms.TypedChoiceField(label="Preview on", required=False, coerce=int, empty_value=None)
    # No autofill: Chromium marks an autofilled input with an inline style, which htmx would copy onto the
    # swapped-in input and the CSP would refuse.
    test_to = forms.EmailField(
        label="Send test to",
        required=False,
        widget=forms.EmailInput(attrs={"autocomplete": "off"}),
        help_text="The rendered e-mail is sent once to this address; nothing is recorded.",
    )

    pointers = {
        "/event": "event",
        "/channel": "channel",
        "/endpoint": "endpoint",
        "/name": "name",
        "/recipients": "recipients",
        "/subject": "subject",
        "/body": "body",
        "/condition": "condition",
        "/active": "active",
        "/test_to": "test_to",
    }
    HANDLER_FIELDS = ("event", "channel", "name", "recipients", "subject", "body", "condition", "active")

    def __init__(self, *args, reseller, read_only: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.reseller = reseller
        self.endpoints = {
            endpoint.pk: endpoint for endpoint in WebhookEndpoint.objects.filter(reseller=reseller).order_by("id")
        }
        self.choice_field("endpoint").choices = [
            ("", "None"),
            *(
                (pk, endpoint.url + ("" if endpoint.active else " (disabled)"))
                for pk, endpoint in self.endpoints.items()
            ),
        ]
        event = self.data.get("event") if self.is_bound else self.initial.get("event")
        self.event_type = event if event in NOTIFIABLE_EVENTS else next(iter(NOTIFIABLE_EVENTS))
        self.subjects = selectors.preview_subjects(reseller, self.event_type)
        self.choice_field("preview_on").choices = [(subject.pk, _subject_label(subject)) for subject in self.subjects]
        if read_only:
            for bound in self.fields.values():
                bound.disabled = True

    def clean_preview_on(self):
        # A subject of another event's kind (the event was just changed) falls back to the default one.
        value = self.cleaned_data.get("preview_on")
        return value if value in {subject.pk for subject in self.subjects} else None

    def handler_fields(self) -> dict:
        data = self.cleaned_data
        fields = {name: data.get(name) for name in self.HANDLER_FIELDS}
        fields["active"] = bool(data.get("active"))
        endpoint_id = data.get("endpoint")  # an int, or None when none is chosen
        fields["endpoint"] = (
            self.endpoints.get(endpoint_id) if endpoint_id is not None and data.get("channel") == "webhook" else None
        )
        return fields

    def preview_subject(self):
        wanted = self.cleaned_data.get("preview_on") if hasattr(self, "cleaned_data") else None
        return next(
            (subject for subject in self.subjects if subject.pk == wanted), self.subjects[0] if self.subjects else None
        )


def _subject_label(subject) -> str:
    kind = subject._meta.model_name
    if kind == "invoice":
        return f"Invoice {subject.document_id or f'#{subject.pk}'} · {subject.account.name}"
    if kind == "payment":
        return (
            f"Payment {subject.document_id or f'#{subject.pk}'} · {subject.status.replace('_', ' ')} · "
            f"{subject.account.name}"
        )
    return f"Account {subject.name} (#{subject.pk})"


def _initial(handler: EventHandler | None, request) -> dict:
    test_to = request.operator.manager.user.email
    if handler is None:
        event = request.GET.get("event") if request.GET.get("event") in NOTIFIABLE_EVENTS else "invoice.closed"
        return {
            "event": event,
            "channel": "email",
            "recipients": DEFAULT_RECIPIENTS,
            "active": True,
            "test_to": test_to,
        }
    return {
        **{name: getattr(handler, name) for name in HandlerForm.HANDLER_FIELDS},
        "endpoint": handler.endpoint_id,
        "test_to": test_to,
    }


def _dotted(prefix: str, node: dict) -> list[str]:
    names = []
    for key, child in node.items():
        names += _dotted(f"{prefix}.{key}", child) if isinstance(child, dict) else [f"{prefix}.{key}"]
    return names


def _placeholder_groups(event: str) -> list[dict]:
    """The event's placeholders as dotted names, grouped by their object, for the list beside the editor."""
    return [
        {"name": top, "names": [top] if node is None else _dotted(top, node)}
        for top, node in PLACEHOLDERS[event].items()
    ]


def _preview(form: HandlerForm, *, now) -> dict:
    """What the form's handler renders on the chosen invoice, payment or account: the message, whether the
    condition holds, or the service's error on its field."""
    if not form.is_valid():
        return {"ok": False}
    subject = form.preview_subject()
    try:
        draft = draft_event_handler(form.reseller, **form.handler_fields())
    except ArrearsError as error:
        form.add_service_error(error)
        return {"ok": False}
    if subject is None:
        return {"ok": False, "no_subject": True, "draft": draft}
    placeholders = preview_placeholders(form.reseller, draft.event, subject, now=now)
    result = {"ok": True, "draft": draft, "subject": subject, "subject_label": _subject_label(subject)}
    try:
        result["holds"] = condition_holds_for(draft, placeholders)
        if draft.channel == EventHandler.Channel.EMAIL:
            result["message"] = message_for(draft, placeholders)
    except TemplateRenderFailed as exc:
        result.update(ok=False, render_error=str(exc))
    return result


def _form_errors(form: HandlerForm) -> list[dict]:
    """The form's errors with their fields and codes, for the preview pane (htmx swaps only the pane)."""
    errors = []
    for name, field_errors in form.errors.as_data().items():
        label = form.fields[name].label if name in form.fields else ""
        for error in field_errors:
            for message in error.messages:
                errors.append(
                    {"field": label, "message": message, "code": error.code if error.code and "-" in error.code else ""}
                )
    return errors


def _context(request, form: HandlerForm, *, preview, sent_to) -> dict:
    return {
        "form": form,
        "event_type": form.event_type,
        "preview": preview,
        "sent_to": sent_to,
        "preview_errors": _form_errors(form),
        "placeholder_groups": _placeholder_groups(form.event_type),
        "can_bill": request.operator.can_bill,
    }


def _editor(
    request,
    form: HandlerForm,
    *,
    handler: EventHandler | None,
    status: int = 200,
    preview=None,
    sent_to: str | None = None,
):
    title = handler.name if handler is not None else "New event handler"
    return page(
        request,
        "operator/handler.html",
        section=SECTION,
        title=title,
        status=status,
        handler=handler,
        **_context(request, form, preview=preview, sent_to=sent_to),
    )


def _fragment(request, form: HandlerForm, *, preview, sent_to: str | None = None):
    """The preview pane alone, for htmx: always 200, so that htmx swaps it in, errors included."""
    return page(
        request,
        "operator/handler_preview.html",
        section=SECTION,
        title="Preview",
        **_context(request, form, preview=preview, sent_to=sent_to),
    )


@operator_view(BILL)
def handler_new(request):
    operator = request.operator
    if request.method != "POST":
        return _editor(request, HandlerForm(initial=_initial(None, request), reseller=operator.reseller), handler=None)
    form = HandlerForm(request.POST, reseller=operator.reseller)
    if form.is_valid():
        try:
            handler = create_event_handler(
                operator.reseller, **form.handler_fields(), actor=operator.actor, now=clock.wall_clock()
            )
        except ArrearsError as error:
            form.add_service_error(error)
        else:
            messages.success(
                request,
                f"“{handler.name}” is saved; it serves {operator.reseller.name} for {event_label(handler.event)}.",
            )
            return redirect("operator:event_handler", handler_id=handler.pk)
    return _editor(request, form, handler=None, status=400)


@operator_view()
def handler_detail(request, handler_id: int):
    operator = request.operator
    handler = selectors.own_handler_of(operator.reseller, handler_id)
    if request.method != "POST":
        initial = _initial(handler, request)
        form = HandlerForm(initial=initial, reseller=operator.reseller, read_only=not operator.can_bill)
        # The saved handler, previewed on the newest fitting subject as the page opens.
        data = {**initial, "active": "on" if initial["active"] else "", "endpoint": initial["endpoint"] or ""}
        preview = _preview(HandlerForm(data, reseller=operator.reseller), now=clock.wall_clock())
        return _editor(request, form, handler=handler, preview=preview)
    operator.require(BILL)
    form = HandlerForm(request.POST, reseller=operator.reseller)
    if form.is_valid():
        try:
            update_event_handler(handler, **form.handler_fields(), actor=operator.actor, now=clock.wall_clock())
        except ArrearsError as error:
            form.add_service_error(error)
        else:
            messages.success(request, f"“{form.cleaned_data['name']}” is saved.")
            return redirect("operator:event_handler", handler_id=handler.pk)
    return _editor(request, form, handler=handler, status=400)


def _edited_handler(request) -> EventHandler | None:
    """The own handler a preview or test comes from (its page), or None for a new one; a foreign id is a 404."""
    raw = request.POST.get("handler_id", "")
    if not raw.strip():
        return None
    try:
        handler_id = int(raw)
    except ValueError:
        handler_id = 0
    return selectors.own_handler_of(request.operator.reseller, handler_id)


@operator_view()
def handler_preview(request):
    """The preview fragment for htmx; without JavaScript, the editor page with the preview in it. It changes
    nothing, so a viewer may preview too."""
    if request.method != "POST":
        return redirect("operator:event_handlers")
    operator = request.operator
    handler = _edited_handler(request)
    form = HandlerForm(request.POST, reseller=operator.reseller)
    preview = _preview(form, now=clock.wall_clock())
    status = 200 if preview["ok"] or preview.get("no_subject") else 400
    if request.htmx:
        return _fragment(request, form, preview=preview)
    return _editor(request, form, handler=handler, status=status, preview=preview)


@operator_view(BILL)
def handler_send_test(request):
    if request.method != "POST":
        return redirect("operator:event_handlers")
    operator = request.operator
    handler = _edited_handler(request)
    form = HandlerForm(request.POST, reseller=operator.reseller)
    preview = _preview(form, now=clock.wall_clock())
    sent_to = None
    if preview["ok"]:
        if "message" not in preview:
            form.add_error(
                "test_to",
                forms.ValidationError(
                    "Send test sends e-mail only; test a webhook endpoint with Send test event on its page.",
                    code="HANDLER-0001",
                ),
            )
        else:
            to = form.cleaned_data.get("test_to") or operator.manager.user.email
            try:
                send_test_message(preview["message"], to=to)
            except ArrearsError as error:
                form.add_service_error(error)
            except (SMTPException, OSError) as exc:
                form.add_error("test_to", forms.ValidationError(f"The mail server refused the message: {exc}."))
            else:
                sent_to = to
                if not request.htmx:
                    messages.success(request, f"A test of “{preview['draft'].name}” was sent to {to}.")
    status = 200 if sent_to else 400
    if request.htmx:
        return _fragment(request, form, preview=preview, sent_to=sent_to)
    return _editor(request, form, handler=handler, status=status, preview=preview, sent_to=sent_to)


urlpatterns = [
    path("event-handlers/", handler_list, name="event_handlers"),
    path("event-handlers/new/", handler_new, name="event_handler_new"),
    path("event-handlers/preview/", handler_preview, name="event_handler_preview"),
    path("event-handlers/send-test/", handler_send_test, name="event_handler_send_test"),
    path("event-handlers/<int:handler_id>/", handler_detail, name="event_handler"),
    path("event-handlers/<int:handler_id>/enable/", handler_enable, name="event_handler_enable"),
    path("event-handlers/<int:handler_id>/disable/", handler_disable, name="event_handler_disable"),
]
