"""Signing in to and out of the Customer Control Panel, and resetting a forgotten password by e-mail: a one-time
link (Django's password-reset tokens, which change once the password does) sent through Django's mail backend."""

import logging

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model, login, logout
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.encoding import force_bytes
from django.utils.http import url_has_allowed_host_and_scheme, urlsafe_base64_encode
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters

from arrears.customers.models import CustomerUser
from arrears.panels.auth import SignInForm
from arrears.panels.passwords import choose_password, user_of_link

log = logging.getLogger(__name__)


def _is_customer_user(user) -> bool:
    return CustomerUser.objects.filter(user=user).exists()


def _safe_next(request, fallback: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target.startswith("/customer/") and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return fallback


def sign_in(request):
    form = SignInForm(request, data=request.POST if request.method == "POST" else None, accepts=_is_customer_user)
    if request.method == "POST" and form.is_valid():
        login(request, form.user)
        return redirect(_safe_next(request, reverse("customer:overview")))
    return render(
        request,
        "customer/login.html",
        {"form": form, "next": _safe_next(request, ""), "page_title": "Sign in"},
        status=400 if form.is_bound else 200,
    )


def sign_out(request):
    if request.method != "POST":  # signing out changes state: only a POST does it
        return redirect("customer:overview" if request.user.is_authenticated else "customer:login")
    logout(request)
    messages.success(request, "You are signed out.")
    return redirect("customer:login")


# --- Forgot password? ----------------------------------------------------------------------------------------


class PasswordResetRequestForm(forms.Form):
    email = forms.EmailField(
        label="Email",
        max_length=254,
        help_text="The e-mail address you sign in with.",
        widget=forms.EmailInput(attrs={"autocomplete": "username", "autofocus": True}),
    )


def _customer_user_with_email(email: str):
    return (
        get_user_model()
        .objects.filter(username=email.lower(), is_active=True, customer__isnull=False)
        .select_related("customer__account__reseller")
        .first()
    )


def _link_days() -> int:
    return max(1, round(settings.PASSWORD_RESET_TIMEOUT / 86_400))


def send_password_reset(user, *, link: str) -> None:
    """The reset e-mail through Django's mail backend, with the absolute one-time ``link``."""
    reseller = user.customer.account.reseller
    days = _link_days()
    body = (
        f"Hello,\n\nsomeone asked to reset the password you use to sign in to the Customer Control Panel of "
        f"{reseller.name} as {user.email}.\n\n"
        f"Choose a new password here (the link works once, for {days} day{'s' if days != 1 else ''}):\n"
        f"{link}\n\nIf it was not you, ignore this e-mail: your password stays as it is.\n"
    )
    EmailMessage(
        subject=f"Reset your password for {reseller.name}",
        body=body,
        to=[user.email],
        headers={"Auto-Submitted": "auto-generated"},
    ).send()


@never_cache
def password_reset(request):
    form = PasswordResetRequestForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        email = form.cleaned_data["email"]
        user = _customer_user_with_email(email)
        if user is not None:
            uidb64 = urlsafe_base64_encode(force_bytes(user.pk))
            token = default_token_generator.make_token(user)
            link = request.build_absolute_uri(reverse("customer:set_password", args=[uidb64, token]))
            try:
                send_password_reset(user, link=link)
            except OSError as exc:  # the mail server refused or is down: say so rather than pretend it went
                log.warning("password reset mail to user %s failed: %s", user.pk, exc)
                form.add_error(
                    None,
                    ValidationError(
                        "The e-mail could not be sent just now. Please try again in a few minutes.", code="AUTH-0503"
                    ),
                )
                return render(
                    request, "customer/password_reset.html", {"form": form, "page_title": "Reset password"}, status=503
                )
        # The same answer whether or not the address has an account: the page must not tell who is a customer.
        return render(
            request,
            "customer/password_reset_sent.html",
            {"email": email, "days": _link_days(), "page_title": "Check your e-mail"},
        )
    return render(
        request,
        "customer/password_reset.html",
        {"form": form, "page_title": "Reset password"},
        status=400 if form.is_bound else 200,
    )


@never_cache
@sensitive_post_parameters("new_password1", "new_password2")
def set_password(request, uidb64: str, token: str):
    return choose_password(
        request,
        user_of_link(uidb64, token, customer__isnull=False),
        panel="customer",
        title="Choose a new password",
        done="Your new password is set. Sign in with your e-mail and that password.",
    )


urlpatterns = [
    path("login/", sign_in, name="login"),
    path("logout/", sign_out, name="logout"),
    path("password-reset/", password_reset, name="password_reset"),
    path("password-reset/<str:uidb64>/<str:token>/", set_password, name="set_password"),
]
