"""Who is using the Customer Control Panel.

Every customer view is wrapped by :func:`customer_view`: an anonymous visit goes to the sign-in page, a signed-in
user who is not an active customer user (a manager, say) is signed out and sent there too, and the view gets
``request.customer``, a :class:`CustomerSession` with the customer user, their account and the actor that
records what they do. Every object a page reads is found within that account, so another account's id answers
404 (R46).
"""

from dataclasses import dataclass
from functools import wraps

from django.contrib.auth import logout
from django.http import Http404
from django.shortcuts import redirect
from django.urls import reverse

from arrears.core.actors import Actor
from arrears.core.errors import NotFound
from arrears.customers.models import Account, CustomerUser
from arrears.tenants.models import Reseller

__all__ = ["CustomerSession", "customer_of", "customer_view"]


@dataclass
class CustomerSession:
    user: CustomerUser
    account: Account
    reseller: Reseller  # the account's reseller: its name, currency and time zone frame every page

    @property
    def actor(self) -> Actor:
        return Actor.customer_user(self.user)

    @property
    def tz(self) -> str:
        return self.reseller.timezone


def customer_of(user) -> CustomerUser | None:
    """The active customer user behind a signed-in ``user``, with its account and reseller; None for anyone else."""
    if not user.is_authenticated or not user.is_active:
        return None
    return CustomerUser.objects.select_related("user", "account__reseller").filter(user=user).first()


def customer_view(view):
    """Wrap a customer view: sign-in as an active customer user required, ``request.customer`` set, and a
    service's or selector's ``NotFound`` answered as the panel's 404."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        customer_user = customer_of(request.user)
        if customer_user is None:
            if request.user.is_authenticated:
                logout(request)
            return redirect(f"{reverse('customer:login')}?next={request.get_full_path()}")
        account = customer_user.account
        request.customer = CustomerSession(user=customer_user, account=account, reseller=account.reseller)
        try:
            return view(request, *args, **kwargs)
        except NotFound as exc:
            raise Http404(exc.detail) from exc

    wrapped.customer_view = True
    return wrapped
