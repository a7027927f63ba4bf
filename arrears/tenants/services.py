"""Resellers and managers: the only writers of their rows."""

from datetime import datetime
from zoneinfo import available_timezones

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import default_token_generator
from django.core.mail import EmailMessage
from django.db import transaction
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from arrears.core import money, sql
from arrears.core.actors import Actor
from arrears.core.reactions import Reactions
from arrears.core.validation import clean_email, clean_name
from arrears.events.services import record_event
from arrears.tenants.errors import (
    ManagerFieldInvalid,
    ManagerInactive,
    ManagerNotFound,
    ManagerOwnAccount,
    ResellerFieldInvalid,
)
from arrears.tenants.models import Manager, Reseller
from arrears.tenants.tokens import revoke_tokens_beyond_role

_TIMEZONES = frozenset(available_timezones())


@Reactions
def reseller_created(reseller: Reseller, *, actor: Actor, now: datetime) -> None:
    """Called by ``create_reseller`` inside its transaction, before the reseller's event: the domains above give
    the new reseller the rows it starts with (customers its default account class, ``arrears.customers.apps``)."""


def create_reseller(
    *,
    name: str,
    currency: str,
    parent: Reseller | None = None,
    timezone: str = "UTC",
    external_invoices: bool = False,
    actor: Actor,
    now: datetime,
) -> Reseller:
    name = clean_name(name, ResellerFieldInvalid)
    currency = (currency or "").strip().upper()
    if not money.is_known_currency(currency):
        raise ResellerFieldInvalid(f"unknown ISO 4217 currency {currency!r}", pointer="/currency")
    if timezone not in _TIMEZONES:
        raise ResellerFieldInvalid(f"unknown IANA time zone {timezone!r}", pointer="/timezone")
    with transaction.atomic(durable=True):
        reseller = Reseller.objects.create(
            name=name,
            parent=parent,
            currency=currency,
            timezone=timezone,
            external_invoices=external_invoices,
            created_at=now,
        )
        reseller.path = f"{parent.path if parent else '/'}{reseller.pk}/"
        reseller.save(update_fields=["path"])
        reseller_created(reseller, actor=actor, now=now)
        record_event(
            "reseller.created",
            subject=reseller,
            reseller_id=reseller.pk,
            account_id=None,
            payload={
                "name": name,
                "currency": currency,
                "timezone": timezone,
                "parent_id": parent.pk if parent else None,
                "external_invoices": external_invoices,
            },
            actor=actor,
            now=now,
        )
    return reseller


def set_external_invoices(reseller: Reseller, enabled: bool, *, actor: Actor, now: datetime) -> Reseller:
    """R1/R10: switch ERP mode; invoices already closed keep the mode they closed with."""
    with transaction.atomic(durable=True):
        changed = (
            Reseller.objects.filter(pk=reseller.pk).exclude(external_invoices=enabled).update(external_invoices=enabled)
        )
        if changed:
            record_event(
                "reseller.settings_changed",
                subject=reseller,
                reseller_id=reseller.pk,
                account_id=None,
                payload={"changes": {"external_invoices": [not enabled, enabled]}},
                actor=actor,
                now=now,
            )
    reseller.refresh_from_db()
    return reseller


def create_manager(
    *,
    reseller: Reseller,
    email: str,
    password: str | None = None,
    role: str = Manager.Role.ADMIN,
    actor: Actor,
    now: datetime,
) -> Manager:
    return _create_manager(
        reseller=reseller, email=email, password=password, role=role, event="manager.created", actor=actor, now=now
    )


def invite_manager(*, reseller: Reseller, email: str, role: str, actor: Actor, now: datetime) -> Manager:
    """A new manager without a usable password: they choose one through the link of :func:`send_invitation`."""
    return _create_manager(
        reseller=reseller, email=email, password=None, role=role, event="manager.invited", actor=actor, now=now
    )


def _create_manager(
    *, reseller: Reseller, email: str, password: str | None, role: str, event: str, actor: Actor, now: datetime
) -> Manager:
    email = clean_email(email, ManagerFieldInvalid)
    _check_role(role)
    user_model = get_user_model()
    if user_model.objects.filter(username__iexact=email).exists():
        raise ManagerFieldInvalid(f"a user {email} already exists", pointer="/email")
    with transaction.atomic(durable=True):
        user = user_model.objects.create_user(username=email, email=email, password=password)
        manager = Manager.objects.create(user=user, reseller=reseller, role=role, created_at=now)
        record_event(
            event,
            subject=manager,
            reseller_id=reseller.pk,
            account_id=None,
            payload={"email": email, "role": role},
            actor=actor,
            now=now,
        )
    return manager


def _check_role(role) -> None:
    if role not in Manager.Role.values:
        raise ManagerFieldInvalid(f"role must be one of {', '.join(Manager.Role.values)}", pointer="/role")


def invitation_link_parts(manager: Manager) -> tuple[str, str]:
    """(uidb64, token) of Django's password-reset machinery: the token changes when the password does, so a link
    sets a password once, and it runs out after ``PASSWORD_RESET_TIMEOUT``."""
    user = manager.user
    return urlsafe_base64_encode(force_bytes(user.pk)), default_token_generator.make_token(user)


def send_invitation(manager: Manager, *, link: str, invited_by: str) -> None:
    """The invitation e-mail through Django's mail backend, with the absolute set-password ``link``."""
    days = max(1, round(settings.PASSWORD_RESET_TIMEOUT / 86_400))
    body = (
        f"Hello,\n\n{invited_by} invites you to the Arrears Operator Control Panel of "
        f"{manager.reseller.name} as {manager.get_role_display().lower()}.\n\n"
        f"Choose your password here (the link works once, for {days} day{'s' if days != 1 else ''}):\n"
        f"{link}\n\nThen sign in with {manager.user.email} and that password.\n"
    )
    EmailMessage(
        subject=f"Your Arrears access for {manager.reseller.name}",
        body=body,
        to=[manager.user.email],
        headers={"Auto-Submitted": "auto-generated"},
    ).send()


def manager_of(reseller: Reseller, manager_id: int) -> Manager:
    """The manager of ``reseller`` with that id, with its user; another reseller's manager is a 404."""
    manager = Manager.objects.select_related("user", "reseller").filter(pk=manager_id, reseller=reseller).first()
    if manager is None:
        raise ManagerNotFound(f"no manager {manager_id} in this reseller")
    return manager


def _refuse_own_account(manager: Manager, actor: Actor, what: str) -> None:
    if actor.kind == "manager" and actor.id == manager.pk:
        raise ManagerOwnAccount(f"you cannot {what} yourself; ask another admin", pointer="/role")


def change_manager_role(manager: Manager, role: str, *, actor: Actor, now: datetime) -> tuple[Manager, list[int]]:
    """Give ``manager`` another role; returns it and the ids of the tokens revoked because they held scopes the
    new role does not allow (a token never does more than its manager may). An admin cannot demote themselves."""
    _check_role(role)
    old = manager.role
    if role == old:
        return manager, []
    if old == Manager.Role.ADMIN:
        _refuse_own_account(manager, actor, "demote")
    with transaction.atomic(durable=True):
        if not Manager.objects.filter(pk=manager.pk, role=old).update(role=role):
            raise ManagerFieldInvalid("the manager's role changed meanwhile; reload the page", pointer="/role")
        manager.role = role
        revoked = revoke_tokens_beyond_role(manager, actor=actor, now=now)
        record_event(
            "manager.role_changed",
            subject=manager,
            reseller_id=manager.reseller_id,
            account_id=None,
            payload={"email": manager.user.email, "changes": {"role": [old, role]}, "revoked_token_ids": revoked},
            actor=actor,
            now=now,
        )
    return manager, revoked


def deactivate_manager(manager: Manager, *, actor: Actor, now: datetime) -> Manager:
    """The manager can no longer sign in, and their API tokens stop authenticating. An admin cannot deactivate
    themselves."""
    _refuse_own_account(manager, actor, "deactivate")
    with transaction.atomic(durable=True):
        if not get_user_model().objects.filter(pk=manager.user_id, is_active=True).update(is_active=False):
            raise ManagerInactive(f"{manager.user.email} is already deactivated")
        record_event(
            "manager.deactivated",
            subject=manager,
            reseller_id=manager.reseller_id,
            account_id=None,
            payload={"email": manager.user.email, "changes": {"active": [True, False]}},
            actor=actor,
            now=now,
        )
    manager.user.is_active = False
    return manager


def reserve_numbers(reseller_id: int, kind: str, count: int) -> int:
    """Reserve ``count`` consecutive document numbers; returns the first. Must run inside a transaction."""
    column = {"invoice": "next_invoice_number", "payment": "next_payment_number"}[kind]
    rows = sql.fetch_all(
        f"UPDATE {sql.table(Reseller)} SET {column} = {column} + %s WHERE id = %s RETURNING {column}",
        [count, reseller_id],
    )
    return rows[0][0] - count


def document_number(prefix: str, number: int) -> str:
    return f"{prefix}{number:0{sql.DOCUMENT_NUMBER_WIDTH}d}"
