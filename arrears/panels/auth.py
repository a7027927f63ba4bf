"""Signing in to a panel: Django's authentication behind django-axes, which locks out a user name and client
address after repeated failures (``AXES_FAILURE_LIMIT``)."""

from django import forms
from django.contrib.auth import authenticate
from django.shortcuts import render

LOCKED_OUT_MESSAGE = "Too many failed sign-ins. Try again in 15 minutes."


class SignInForm(forms.Form):
    email = forms.EmailField(
        label="Email", max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "username", "autofocus": True})
    )
    password = forms.CharField(
        label="Password", strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "current-password"})
    )

    def __init__(self, request, *args, accepts=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.request = request
        self.accepts = accepts  # which users this panel lets in, e.g. managers only
        self.user = None

    def clean(self):
        cleaned = super().clean()
        email, password = cleaned.get("email"), cleaned.get("password")
        if email and password:
            user = authenticate(self.request, username=email.lower(), password=password)
            if getattr(self.request, "axes_locked_out", False):
                raise forms.ValidationError(LOCKED_OUT_MESSAGE, code="AUTH-0429")
            if user is None or not user.is_active or (self.accepts and not self.accepts(user)):
                raise forms.ValidationError("The email or the password is not right.", code="AUTH-0401")
            self.user = user
        return cleaned


def locked_out(request, response, credentials, *args, **kwargs):
    """django-axes' answer to a locked-out sign-in: the sign-in page again, saying so (status 429)."""
    form = SignInForm(request, initial={"email": (credentials or {}).get("username", "")})
    template = "operator/login.html" if request.path.startswith("/operator/") else "customer/login.html"
    return render(request, template, {"form": form, "locked_out": LOCKED_OUT_MESSAGE}, status=429)
