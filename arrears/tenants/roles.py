"""What a manager's role allows, one rule for every way in: the Operator Control Panel and the command line.

A viewer reads; a billing manager also acts on invoices, payments, accounts, billing runs and event handlers;
an admin also changes settings, webhook endpoints, API tokens and managers. A deactivated manager does nothing.
"""

from arrears.tenants.models import Manager

VIEW, BILL, ADMIN = "view", "bill", "admin"
ROLES_ALLOWED = {
    VIEW: frozenset(Manager.Role.values),
    BILL: frozenset({Manager.Role.ADMIN, Manager.Role.BILLING_MANAGER}),
    ADMIN: frozenset({Manager.Role.ADMIN}),
}


def manager_may(manager: Manager, permission: str) -> bool:
    return manager.user.is_active and manager.role in ROLES_ALLOWED[permission]
