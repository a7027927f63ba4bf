"""The ``--manager EMAIL`` of the operator commands that act as a manager (invoices, payments, API tokens): with
tenants, which own managers and their roles, so that the commands of the domains above can use it."""

from django.core.management.base import CommandError

from arrears.core.actors import Actor
from arrears.tenants.models import Manager
from arrears.tenants.roles import manager_may


def manager_actor(email: str, permission: str | None = None):
    """The manager acting through the CLI, and the actor recorded on the events it causes (R45). With
    ``permission`` (``arrears.tenants.roles``), a manager whose role does not allow it is refused, as the
    Operator Control Panel refuses them, and so is a deactivated one."""
    manager = Manager.objects.select_related("user", "reseller").filter(user__email=email.strip().lower()).first()
    if manager is None:
        raise CommandError(f"no manager with e-mail {email}")
    if permission is not None and not manager_may(manager, permission):
        raise CommandError(
            f"the manager {manager.user.email} ({manager.get_role_display()}"
            f"{'' if manager.user.is_active else ', deactivated'}) may not do this"
        )
    return Actor.manager(manager), manager
