"""Signing in and out of the Operator Control Panel, and switching the reseller a manager looks at."""

from django.contrib import messages
from django.contrib.auth import login, logout
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import path
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from arrears.panels.auth import SignInForm
from arrears.panels.operator.access import CURRENT_RESELLER_KEY, operator_view
from arrears.tenants.models import Manager


def _is_active_manager(user) -> bool:
    return Manager.objects.filter(user=user).exists()


def _safe_next(request, fallback: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target.startswith("/operator/") and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return fallback


def sign_in(request):
    form = SignInForm(request, data=request.POST if request.method == "POST" else None, accepts=_is_active_manager)
    if request.method == "POST" and form.is_valid():
        login(request, form.user)
        return redirect(_safe_next(request, "/operator/"))
    return render(
        request,
        "operator/login.html",
        {"form": form, "next": _safe_next(request, "")},
        status=400 if form.is_bound else 200,
    )


def sign_out(request):
    if request.method != "POST":  # signing out changes state: only a POST does it
        return redirect("operator:dashboard" if request.user.is_authenticated else "operator:login")
    logout(request)
    messages.success(request, "You are signed out.")
    return redirect("operator:login")


@require_POST
@operator_view()
def switch_reseller(request):
    operator = request.operator
    try:
        wanted = int(request.POST.get("reseller", ""))
    except ValueError as exc:
        raise Http404("no such reseller") from exc
    if wanted not in {reseller.pk for reseller in operator.resellers}:
        raise Http404("no such reseller")
    request.session[CURRENT_RESELLER_KEY] = wanted
    return redirect("operator:dashboard")


urlpatterns = [
    path("login/", sign_in, name="login"),
    path("logout/", sign_out, name="logout"),
    path("switch-reseller/", switch_reseller, name="switch_reseller"),
]
