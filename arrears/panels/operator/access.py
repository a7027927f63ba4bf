"""Who is using the Operator Control Panel, and what they may do.

Every operator view is wrapped by :func:`operator_view`: an anonymous visit goes to the sign-in page, a user who
is not an active manager is signed out, and the view gets ``request.operator``, an :class:`OperatorSession`
with the manager's principal (the same one the API builds for a token, R46) and the reseller the manager is
looking at. A manager of a parent reseller switches between it and its descendants; every object a page reads
is found within that current reseller, so a foreign id answers 404.

Roles (``Manager.Role``): a viewer reads; a billing manager also acts on invoices, payments, accounts, billing
runs and event handlers; an admin also changes settings, webhook endpoints, API tokens and managers.
"""

from dataclasses import dataclass
from functools import wraps

from django.contrib.auth import logout
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect
from django.urls import reverse

from arrears.core.actors import Actor
from arrears.core.errors import NotFound
from arrears.core.principals import Principal
from arrears.tenants.models import Manager, Reseller
from arrears.tenants.roles import ADMIN, BILL, VIEW, manager_may

__all__ = ["ADMIN", "BILL", "VIEW", "ActionForbidden", "OperatorSession", "operator_view"]

CURRENT_RESELLER_KEY = "operator_reseller_id"


class ActionForbidden(PermissionDenied):
    """The manager's role does not allow the action: answered 403, and nothing changes."""


@dataclass
class OperatorSession:
    manager: Manager
    principal: Principal
    reseller: Reseller  # the reseller whose data the pages show now
    resellers: list[Reseller]  # the manager's reseller and its descendants, for the switcher

    @property
    def actor(self) -> Actor:
        return self.principal.actor

    def may(self, permission: str) -> bool:
        return manager_may(self.manager, permission)

    def require(self, permission: str) -> None:
        if not self.may(permission):
            raise ActionForbidden(permission)

    @property
    def can_bill(self) -> bool:
        return self.may(BILL)

    @property
    def is_admin(self) -> bool:
        return self.may(ADMIN)


def _manager_of(user) -> Manager | None:
    if not user.is_authenticated or not user.is_active:
        return None
    try:
        manager = user.manager
    except Manager.DoesNotExist:
        return None
    return manager


def operator_session(request) -> OperatorSession | None:
    manager = _manager_of(request.user)
    if manager is None:
        return None
    home = manager.reseller
    resellers = list(Reseller.objects.filter(path__startswith=home.path).order_by("path"))
    wanted = request.session.get(CURRENT_RESELLER_KEY)
    current = next((reseller for reseller in resellers if reseller.pk == wanted), home)
    principal = Principal(actor=Actor.manager(manager), home_reseller=home, scopes=frozenset({"read", "erp"}))
    return OperatorSession(manager=manager, principal=principal, reseller=current, resellers=resellers)


def operator_view(permission: str = VIEW):
    """Wrap an operator view: sign-in required, a role at least ``permission`` (viewers may read, but a POST to a
    view that changes something needs the view's permission), ``request.operator`` set, and a service's
    ``NotFound`` answered as the panel's 404."""

    def decorate(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            session = operator_session(request)
            if session is None:
                if request.user.is_authenticated:
                    logout(request)
                return redirect(f"{reverse('operator:login')}?next={request.get_full_path()}")
            request.operator = session
            if not session.may(permission):
                raise ActionForbidden(permission)
            try:
                return view(request, *args, **kwargs)
            except NotFound as exc:
                raise Http404(exc.detail) from exc

        wrapped.operator_permission = permission
        return wrapped

    return decorate
