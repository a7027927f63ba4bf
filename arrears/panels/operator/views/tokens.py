"""API tokens (admin only): the tokens of the reseller's managers with their last use, create (the secret is shown
once, in the answer to the POST, and never again), revoke."""

from zoneinfo import ZoneInfo

import django_filters
import django_tables2 as tables
from django import forms
from django.contrib import messages
from django.db.models import Q
from django.http import Http404
from django.middleware.csrf import get_token
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from arrears.core import clock
from arrears.core.errors import ArrearsError
from arrears.panels.forms import PanelForm
from arrears.panels.lists import page_number, page_size
from arrears.panels.operator.access import ADMIN, operator_view
from arrears.panels.operator.pages import page
from arrears.panels.templatetags.panels import badge, day, moment
from arrears.tenants.errors import TokenFieldInvalid
from arrears.tenants.models import ApiToken, Manager
from arrears.tenants.tokens import SCOPES, create_api_token, revoke_api_token, token_of, tokens_of

SCOPE_LABELS = {
    "read": "read — the GET routes",
    "erp": "erp — approve, complete and revoke invoices",
    "platform": "platform — accounts, subscriptions, usage charges",
}


# --- The list ----------------------------------------------------------------------------------------------


class TokenFilter(django_filters.FilterSet):
    state = django_filters.ChoiceFilter(
        label="State", choices=(("live", "Live"), ("revoked", "Revoked")), method="filter_state", empty_label="Any"
    )
    name = django_filters.CharFilter(label="Name or prefix", method="filter_name")

    class Meta:
        model = ApiToken
        fields: list[str] = []

    def filter_state(self, queryset, name, value):
        return queryset.filter(revoked_at__isnull=value == "live")

    def filter_name(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(Q(name__icontains=value) | Q(prefix__startswith=value))


class TokenTable(tables.Table):
    name = tables.Column(verbose_name="Name", order_by=("name", "id"), attrs={"td": {"class": "nowrap"}})
    prefix = tables.Column(verbose_name="Prefix", orderable=False)
    owner = tables.Column(
        verbose_name="Owner", accessor="manager__user__email", order_by=("manager__user__email", "id")
    )
    scopes = tables.Column(verbose_name="Scopes", orderable=False)
    created_at = tables.Column(verbose_name="Created", order_by=("created_at", "id"))
    last_used_at = tables.Column(verbose_name="Last used", empty_values=(), order_by=("last_used_at", "id"))
    revoked_at = tables.Column(verbose_name="Revoked", empty_values=(), order_by=("revoked_at", "id"))
    actions = tables.Column(verbose_name="Actions", empty_values=(), orderable=False)

    class Meta:
        attrs = {"class": "data"}
        order_by = ("-id",)
        empty_text = "No API token matches."
        orderable = True

    noun_plural = "tokens"
    empty_hint = "Create a token for your ERP: it calls the API with the X-Api-Token header."

    def __init__(self, *args, tz: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.tz = tz

    def render_prefix(self, value):
        return format_html("<code>{}…</code>", value)

    def render_scopes(self, value):
        return format_html(
            '<span class="nowrap">{}</span>',
            format_html_join(" ", '<span class="badge badge--none">{}</span>', ((scope,) for scope in value)),
        )

    def render_created_at(self, value):
        return day(value.astimezone(ZoneInfo(self.tz)).date())

    def render_last_used_at(self, value):
        return moment(value, self.tz) if value else format_html('<span class="muted">{}</span>', "Never")

    def render_revoked_at(self, value):
        if value:
            return format_html('{}<span class="sub">{}</span>', badge("revoked"), moment(value, self.tz))
        return badge("active", "Live")

    def render_actions(self, record):
        if record.revoked_at:
            return ""
        return format_html(
            '<form method="post" action="{}" class="inline-form" data-confirm="Revoke the token {} ({}…)? The '
            'integration using it gets 401 from its next request on; this cannot be undone." '
            'data-confirm-title="Revoke token"><input type="hidden" name="csrfmiddlewaretoken" value="{}">'
            '<button type="submit" class="small danger">Revoke</button></form>',
            reverse("operator:api_token_revoke", args=[record.pk]),
            record.name,
            record.prefix,
            get_token(self.request),
        )


# --- Create ------------------------------------------------------------------------------------------------


class CreateTokenForm(PanelForm):
    name = forms.CharField(
        label="Name",
        required=False,
        max_length=200,
        help_text="Tells the tokens apart, e.g. “ERP sync”. Empty: “API token”.",
    )
    scopes = forms.MultipleChoiceField(
        label="Scopes",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        choices=[(scope, SCOPE_LABELS[scope]) for scope in SCOPES],
        help_text="An admin's or billing manager's token may hold any scope; a viewer's may only read.",
    )
    owner = forms.TypedChoiceField(
        label="Owner",
        coerce=int,
        help_text="The token acts as this manager and never does more than their role allows.",
    )

    pointers = {"/name": "name", "/scopes": "scopes", "/manager": "owner"}

    def __init__(self, data=None, *, owners: list[Manager], **kwargs):
        # Its own ids: the filter bar above has a name field too.
        super().__init__(data, auto_id="create_%s", **kwargs)
        self.owners = {manager.pk: manager for manager in owners}
        self.choice_field("owner").choices = [
            (manager.pk, f"{manager.user.email} · {manager.get_role_display().capitalize()}") for manager in owners
        ]

    def clean_scopes(self):
        scopes = self.cleaned_data["scopes"]
        if not scopes:
            raise forms.ValidationError("Choose at least one scope.", code=TokenFieldInvalid.code)
        return scopes

    def owner_manager(self) -> Manager:
        return self.owners[self.cleaned_data["owner"]]


def _owners(reseller) -> list[Manager]:
    """The managers a token may belong to: the reseller's active ones."""
    return list(
        Manager.objects.filter(reseller=reseller, user__is_active=True).select_related("user").order_by("user__email")
    )


def _create_form(request, data=None) -> CreateTokenForm:
    operator = request.operator
    owners = _owners(operator.reseller)
    default_owner = operator.manager.pk if any(m.pk == operator.manager.pk for m in owners) else None
    return CreateTokenForm(data, owners=owners, initial={"scopes": ["read", "erp"], "owner": default_owner})


def _list_page(request, *, form=None, status=200):
    operator = request.operator
    token_filter = TokenFilter(request.GET, queryset=tokens_of(operator.reseller))
    table = TokenTable(
        token_filter.qs if token_filter.is_valid() else ApiToken.objects.none(),
        request=request,
        tz=operator.reseller.timezone,
    )
    table.paginate(page=page_number(request), per_page=page_size(request))
    template = "operator/tokens_results.html" if request.htmx else "operator/tokens.html"
    return page(
        request,
        template,
        section="api_tokens",
        title="API tokens",
        status=status,
        filter=token_filter,
        table=table,
        form=form or _create_form(request),
        show_create=form is not None,
    )


@operator_view(ADMIN)
def token_list(request):
    if request.method == "POST":
        return _create(request)
    return _list_page(request)


def _create(request):
    operator = request.operator
    posted_owner = request.POST.get("owner", "")
    form = _create_form(request, request.POST)
    if posted_owner.isdigit() and int(posted_owner) not in form.owners:
        # Another reseller's manager (or one that does not exist): not this reseller's business.
        if not Manager.objects.filter(pk=int(posted_owner), reseller=operator.reseller).exists():
            raise Http404("no such manager in this reseller")
    if form.is_valid():
        try:
            token, secret = create_api_token(
                manager=form.owner_manager(),
                name=form.cleaned_data["name"],
                scopes=form.cleaned_data["scopes"],
                actor=operator.actor,
                now=clock.wall_clock(),
            )
        except ArrearsError as error:
            form.add_service_error(error)
        else:
            # Shown in this answer only: the database keeps the secret's sha256, the session nothing.
            api_url = request.build_absolute_uri(f"/api/v3/resellers/{operator.reseller.pk}/invoices")
            response = page(
                request,
                "operator/token_created.html",
                section="api_tokens",
                title=f"Token {token.name} created",
                token=token,
                secret=secret,
                api_url=api_url,
            )
            response["Cache-Control"] = "no-store"
            return response
    return _list_page(request, form=form, status=400)


@operator_view(ADMIN)
def token_revoke(request, token_id: int):
    operator = request.operator
    token = token_of(operator.reseller, token_id)
    if request.method != "POST":
        return redirect("operator:api_tokens")
    try:
        revoke_api_token(token, actor=operator.actor, now=clock.wall_clock())
    except ArrearsError as error:
        messages.error(request, f"{error.detail[:1].upper()}{error.detail[1:]}. · {error.code}")
    else:
        messages.success(request, f"Token {token.name} ({token.prefix}…) is revoked: the API refuses it from now on.")
    return redirect("operator:api_tokens")


urlpatterns = [
    path("api-tokens/", token_list, name="api_tokens"),
    path("api-tokens/<int:token_id>/revoke/", token_revoke, name="api_token_revoke"),
]
