"""Choosing a password from a one-time link, in either panel: a manager's invitation, a customer's reset.

The link carries the user's id and one of Django's password-reset tokens, which stop holding once the password
changes, so a link works once."""

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import SetPasswordForm
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.utils.encoding import force_str
from django.utils.http import urlsafe_base64_decode


class ChoosePasswordForm(SetPasswordForm):
    """Django's SetPasswordForm (its validators), labelled for the panels."""

    def __init__(self, user, *args, **kwargs):
        super().__init__(user, *args, **kwargs)
        self.fields["new_password1"].label = "New password"
        self.fields["new_password2"].label = "Confirm password"
        self.fields["new_password1"].help_text = "At least 8 characters; not only digits, not a common password."
        self.fields["new_password2"].help_text = ""


def user_of_link(uidb64: str, token: str, **kind):
    """The active user (of the ``kind``, e.g. ``manager__isnull=False``) the link was made for, if its token
    still holds; None otherwise."""
    try:
        user_id = int(force_str(urlsafe_base64_decode(uidb64)))
    except (TypeError, ValueError, OverflowError, ValidationError):
        return None
    user = get_user_model().objects.filter(pk=user_id, is_active=True, **kind).first()
    if user is None or not default_token_generator.check_token(user, token):
        return None
    return user


def choose_password(request, user, *, panel: str, title: str, done: str):
    """The page of a link (``{panel}/set_password.html``): 404 for a used, run-out or made-up link, as for any URL
    that names nothing; on success the password is set (the link stops holding) and the panel's sign-in page
    says ``done``."""
    if user is None:
        return render(request, f"{panel}/set_password_invalid.html", {"page_title": "Link no longer valid"}, status=404)
    form = ChoosePasswordForm(user, request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, done)
        return redirect(f"{panel}:login")
    # The token is in the URL: the site-wide Referrer-Policy (same-origin) keeps it from other sites. Not
    # "no-referrer": the browser would then send "Origin: null" with the form, and CSRF would refuse it.
    return render(
        request,
        f"{panel}/set_password.html",
        {"form": form, "email": user.email, "page_title": title},
        status=400 if form.is_bound else 200,
    )
