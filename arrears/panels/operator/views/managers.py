"""Managers (admin only): the reseller's managers, invite one by e-mail (a set-password link through Django's mail
backend and password-reset tokens), change a role, deactivate; and the invitee's set-password page."""

from zoneinfo import ZoneInfo

import django_filters
import django_tables2 as tables
from django import forms
from django.contrib import messages
from django.middleware.csrf import get_token
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters

from arrears.core import clock
from arrears.core.errors import ArrearsError
from arrears.panels.forms import PanelForm
from arrears.panels.lists import page_number, page_size
from arrears.panels.operator.access import ADMIN, operator_view
from arrears.panels.operator.pages import page
from arrears.panels.passwords import choose_password, user_of_link
from arrears.panels.templatetags.panels import badge, day, moment
from arrears.tenants.models import Manager
from arrears.tenants.services import (
    change_manager_role,
    deactivate_manager,
    invitation_link_parts,
    invite_manager,
    manager_of,
    send_invitation,
)

ROLE_CHOICES = [(value, label.capitalize()) for value, label in Manager.Role.choices]  # "Billing manager"
ROLE_LABELS = dict(ROLE_CHOICES)
ROLE_HELP = (
    "Admin: everything, managers and tokens included. Billing manager: invoices, payments, accounts, "
    "handlers. Viewer: reads only."
)


# --- The list ----------------------------------------------------------------------------------------------


class ManagerFilter(django_filters.FilterSet):
    email = django_filters.CharFilter(label="E-mail", field_name="user__email", lookup_expr="icontains")
    role = django_filters.ChoiceFilter(label="Role", choices=ROLE_CHOICES, empty_label="Any")
    active = django_filters.ChoiceFilter(
        label="Active", choices=(("yes", "Active"), ("no", "Deactivated")), method="filter_active", empty_label="Any"
    )

    class Meta:
        model = Manager
        fields: list[str] = []

    def filter_active(self, queryset, name, value):
        return queryset.filter(user__is_active=value == "yes")


class ManagerTable(tables.Table):
    email = tables.Column(verbose_name="E-mail", accessor="user__email", order_by=("user__email", "id"))
    role = tables.Column(verbose_name="Role", order_by=("role", "id"), attrs={"td": {"class": "nowrap"}})
    active = tables.Column(
        verbose_name="Active", accessor="user__is_active", empty_values=(), order_by=("user__is_active", "id")
    )
    last_login = tables.Column(
        verbose_name="Last login", accessor="user__last_login", empty_values=(), order_by=("user__last_login", "id")
    )
    created_at = tables.Column(verbose_name="Created", order_by=("created_at", "id"))
    actions = tables.Column(verbose_name="Actions", empty_values=(), orderable=False)

    class Meta:
        attrs = {"class": "data"}
        order_by = ("user__email",)
        empty_text = "No manager matches these filters."
        orderable = True

    noun_plural = "managers"
    empty_hint = "Invite a colleague by e-mail: they choose their own password."

    def __init__(self, *args, tz: str, me: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.tz, self.me = tz, me

    def render_email(self, record):
        if record.pk == self.me:
            return format_html('{}<span class="sub">You</span>', record.user.email)
        if not record.user.has_usable_password():
            return format_html('{}<span class="sub">Invited, no password yet</span>', record.user.email)
        return record.user.email

    def render_role(self, record):
        if record.pk == self.me or not record.user.is_active:
            return ROLE_LABELS[record.role]
        options = format_html_join(
            "",
            '<option value="{}"{}>{}</option>',
            ((value, " selected" if value == record.role else "", label) for value, label in ROLE_CHOICES),
        )
        return format_html(
            '<form method="post" action="{}" class="row-actions" data-confirm="Change the role of {}? A token of '
            'theirs holding scopes the new role does not allow is revoked." data-confirm-title="Change role">'
            '<input type="hidden" name="csrfmiddlewaretoken" value="{}"><label class="sr-only" for="role-{}">Role of '
            '{}</label><select name="role" id="role-{}">{}</select><button type="submit" class="small">Change role'
            "</button></form>",
            reverse("operator:manager_role", args=[record.pk]),
            record.user.email,
            get_token(self.request),
            record.pk,
            record.user.email,
            record.pk,
            options,
        )

    def render_active(self, record):
        return badge("active", "Active") if record.user.is_active else badge("inactive", "Deactivated")

    def render_last_login(self, record):
        return (
            moment(record.user.last_login, self.tz)
            if record.user.last_login
            else format_html('<span class="muted">{}</span>', "Never")
        )

    def render_created_at(self, value):
        return day(value.astimezone(ZoneInfo(self.tz)).date())

    def render_actions(self, record):
        if record.pk == self.me:
            return format_html('<span class="muted small">{}</span>', "Your own account")
        if not record.user.is_active:
            return ""
        return format_html(
            '<form method="post" action="{}" class="inline-form" data-confirm="Deactivate {}? They can no longer '
            'sign in, and their API tokens stop working." data-confirm-title="Deactivate manager">'
            '<input type="hidden" name="csrfmiddlewaretoken" value="{}">'
            '<button type="submit" class="small danger">Deactivate</button></form>',
            reverse("operator:manager_deactivate", args=[record.pk]),
            record.user.email,
            get_token(self.request),
        )


class InviteManagerForm(PanelForm):
    email = forms.EmailField(
        label="E-mail", max_length=254, help_text="They get a link to choose their password; it works once."
    )
    role = forms.ChoiceField(
        label="Role", choices=ROLE_CHOICES, initial=Manager.Role.BILLING_MANAGER, help_text=ROLE_HELP
    )

    pointers = {"/email": "email", "/role": "role"}

    def __init__(self, *args, **kwargs):
        # Its own ids: the filter bar above has an e-mail field too.
        super().__init__(*args, auto_id="invite_%s", **kwargs)


def _list_page(request, *, form=None, status=200):
    operator = request.operator
    rows = Manager.objects.filter(reseller=operator.reseller).select_related("user")
    manager_filter = ManagerFilter(request.GET, queryset=rows)
    table = ManagerTable(
        manager_filter.qs if manager_filter.is_valid() else Manager.objects.none(),
        request=request,
        tz=operator.reseller.timezone,
        me=operator.manager.pk,
    )
    table.paginate(page=page_number(request), per_page=page_size(request))
    template = "operator/managers_results.html" if request.htmx else "operator/managers.html"
    return page(
        request,
        template,
        section="managers",
        title="Managers",
        status=status,
        filter=manager_filter,
        table=table,
        form=form or InviteManagerForm(),
    )


@operator_view(ADMIN)
def manager_list(request):
    if request.method == "POST":
        return _invite(request)
    return _list_page(request)


def _invite(request):
    operator = request.operator
    form = InviteManagerForm(request.POST)
    if form.is_valid():
        try:
            manager = invite_manager(
                reseller=operator.reseller,
                email=form.cleaned_data["email"],
                role=form.cleaned_data["role"],
                actor=operator.actor,
                now=clock.wall_clock(),
            )
        except ArrearsError as error:
            form.add_service_error(error)
        else:
            uidb64, token = invitation_link_parts(manager)
            link = request.build_absolute_uri(reverse("operator:set_password", args=[uidb64, token]))
            try:
                send_invitation(manager, link=link, invited_by=operator.manager.user.email)
            except OSError as exc:  # the mail server refused or is down: the manager exists, the mail did not go
                messages.error(
                    request,
                    f"{manager.user.email} is added, but the invitation could not be sent "
                    f"({type(exc).__name__}). Check the mail settings.",
                )
            else:
                messages.success(
                    request,
                    f"{manager.user.email} is invited as {manager.get_role_display().lower()}"
                    ": the e-mail with their set-password link is on its way.",
                )
            return redirect("operator:managers")
    return _list_page(request, form=form, status=400)


def _refused(request, error: ArrearsError):
    messages.error(request, f"{error.detail[:1].upper()}{error.detail[1:]}. · {error.code}")


@operator_view(ADMIN)
def manager_role(request, manager_id: int):
    operator = request.operator
    manager = manager_of(operator.reseller, manager_id)
    if request.method != "POST":
        return redirect("operator:managers")
    role = request.POST.get("role", "")
    try:
        old = manager.role
        changed, revoked = change_manager_role(manager, role, actor=operator.actor, now=clock.wall_clock())
    except ArrearsError as error:
        _refused(request, error)
        return redirect("operator:managers")
    if changed.role == old:
        messages.info(request, f"{manager.user.email} already is {changed.get_role_display().lower()}.")
    else:
        note = (
            f" Their {len(revoked)} token{'s' if len(revoked) != 1 else ''} with scopes beyond the new role "
            f"{'are' if len(revoked) != 1 else 'is'} revoked."
            if revoked
            else ""
        )
        messages.success(request, f"{manager.user.email} is now {changed.get_role_display().lower()}.{note}")
    return redirect("operator:managers")


@operator_view(ADMIN)
def manager_deactivate(request, manager_id: int):
    operator = request.operator
    manager = manager_of(operator.reseller, manager_id)
    if request.method != "POST":
        return redirect("operator:managers")
    try:
        deactivate_manager(manager, actor=operator.actor, now=clock.wall_clock())
    except ArrearsError as error:
        _refused(request, error)
    else:
        messages.success(request, f"{manager.user.email} is deactivated: they can no longer sign in.")
    return redirect("operator:managers")


# --- Setting the password from the invitation ----------------------------------------------------------------


@never_cache
@sensitive_post_parameters("new_password1", "new_password2")
def set_password(request, uidb64: str, token: str):
    return choose_password(
        request,
        user_of_link(uidb64, token, manager__isnull=False),
        panel="operator",
        title="Set password",
        done="Your password is set. Sign in with your e-mail and that password.",
    )


urlpatterns = [
    path("managers/", manager_list, name="managers"),
    path("managers/<int:manager_id>/role/", manager_role, name="manager_role"),
    path("managers/<int:manager_id>/deactivate/", manager_deactivate, name="manager_deactivate"),
    path("set-password/<str:uidb64>/<str:token>/", set_password, name="set_password"),
]
