"""Resellers and managers: the only writers of their rows."""

from datetime import datetime
from zoneinfo import available_timezones

from django.contrib.auth import get_user_model
from django.db import transaction

from arrears.core import money, sql
from arrears.core.actors import Actor
from arrears.core.validation import clean_email, clean_name
from arrears.customers.models import AccountClass
from arrears.events.services import record_event
from arrears.tenants.errors import ManagerFieldInvalid, ResellerFieldInvalid
from arrears.tenants.models import Manager, Reseller

_TIMEZONES = frozenset(available_timezones())


def create_reseller(*, name: str, currency: str, parent: Reseller | None = None, timezone: str = "UTC",
                    external_invoices: bool = False, actor: Actor, now: datetime) -> Reseller:
    name = clean_name(name, ResellerFieldInvalid)
    currency = (currency or "").strip().upper()
    if not money.is_known_currency(currency):
        raise ResellerFieldInvalid(f"unknown ISO 4217 currency {currency!r}", pointer="/currency")
    if timezone not in _TIMEZONES:
        raise ResellerFieldInvalid(f"unknown IANA time zone {timezone!r}", pointer="/timezone")
    with transaction.atomic(durable=True):
        reseller = Reseller.objects.create(name=name, parent=parent, currency=currency, timezone=timezone,
                                           external_invoices=external_invoices, created_at=now)
        reseller.path = f"{parent.path if parent else '/'}{reseller.pk}/"
        reseller.save(update_fields=["path"])
        # Every reseller starts with a default account class so that an account always has terms.
        AccountClass.objects.create(reseller=reseller, name="Default", is_default=True, created_at=now)
        record_event("reseller.created", subject=reseller, reseller_id=reseller.pk, account_id=None,
                     payload={"name": name, "currency": currency, "timezone": timezone,
                              "parent_id": parent.pk if parent else None,
                              "external_invoices": external_invoices},
                     actor=actor, now=now)
    return reseller


def set_external_invoices(reseller: Reseller, enabled: bool, *, actor: Actor, now: datetime) -> Reseller:
    """R1/R10: switch ERP mode; invoices already closed keep the mode they closed with."""
    with transaction.atomic(durable=True):
        changed = Reseller.objects.filter(pk=reseller.pk).exclude(external_invoices=enabled).update(
            external_invoices=enabled)
        if changed:
            record_event("reseller.settings_changed", subject=reseller, reseller_id=reseller.pk, account_id=None,
                         payload={"changes": {"external_invoices": [not enabled, enabled]}}, actor=actor, now=now)
    reseller.refresh_from_db()
    return reseller


def create_manager(*, reseller: Reseller, email: str, password: str | None = None,
                   role: str = Manager.Role.ADMIN, actor: Actor, now: datetime) -> Manager:
    email = clean_email(email, ManagerFieldInvalid)
    if role not in Manager.Role.values:
        raise ManagerFieldInvalid(f"role must be one of {', '.join(Manager.Role.values)}", pointer="/role")
    user_model = get_user_model()
    if user_model.objects.filter(username=email).exists():
        raise ManagerFieldInvalid(f"a user {email} already exists", pointer="/email")
    with transaction.atomic(durable=True):
        user = user_model.objects.create_user(username=email, email=email, password=password)
        manager = Manager.objects.create(user=user, reseller=reseller, role=role, created_at=now)
        record_event("manager.created", subject=manager, reseller_id=reseller.pk, account_id=None,
                     payload={"email": email, "role": role}, actor=actor, now=now)
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
