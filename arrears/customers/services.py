"""Account classes, accounts and customer users."""

from datetime import datetime

from django.contrib.auth import get_user_model
from django.db import transaction

from arrears.core.actors import Actor
from arrears.core.validation import clean_email, clean_name
from arrears.customers.errors import AccountClassFieldInvalid, AccountFieldInvalid
from arrears.customers.models import Account, AccountClass, CustomerUser
from arrears.events.services import record_event
from arrears.tenants.models import Reseller


def create_default_account_class(reseller: Reseller, *, actor: Actor, now: datetime) -> AccountClass:
    """The account class a new reseller starts with, so that an account always has terms (registered for
    ``arrears.tenants.services.reseller_created`` in ``arrears.customers.apps``; inside its transaction). It is part
    of the reseller's creation, whose event it shares."""
    return AccountClass.objects.create(reseller=reseller, name="Default", is_default=True, created_at=now)


def create_account_class(
    *,
    reseller: Reseller,
    name: str,
    payment_expiration_days: int = 10,
    grace_days: int = 0,
    actor: Actor,
    now: datetime,
) -> AccountClass:
    name = clean_name(name, AccountClassFieldInvalid)
    if not isinstance(payment_expiration_days, int) or not 1 <= payment_expiration_days <= 365:
        raise AccountClassFieldInvalid(
            "payment expiration period must be 1 to 365 days", pointer="/payment_expiration_days"
        )
    if not isinstance(grace_days, int) or not 0 <= grace_days <= 365:
        raise AccountClassFieldInvalid("grace period must be 0 to 365 days", pointer="/grace_days")
    if AccountClass.objects.filter(reseller=reseller, name=name).exists():
        raise AccountClassFieldInvalid(f"an account class named {name!r} already exists", pointer="/name")
    with transaction.atomic(durable=True):
        account_class = AccountClass.objects.create(
            reseller=reseller,
            name=name,
            payment_expiration_days=payment_expiration_days,
            grace_days=grace_days,
            created_at=now,
        )
        record_event(
            "account_class.created",
            subject=account_class,
            reseller_id=reseller.pk,
            account_id=None,
            payload={"name": name, "payment_expiration_days": payment_expiration_days, "grace_days": grace_days},
            actor=actor,
            now=now,
        )
    return account_class


def create_account(
    *,
    reseller: Reseller,
    name: str,
    email: str = "",
    address: str = "",
    account_class: AccountClass | None = None,
    actor: Actor,
    now: datetime,
) -> Account:
    name = clean_name(name, AccountFieldInvalid)
    email = clean_email(email, AccountFieldInvalid, required=False)
    if account_class is None:
        account_class = AccountClass.objects.get(reseller=reseller, is_default=True)
    elif account_class.reseller_id != reseller.pk:
        raise AccountFieldInvalid("the account class belongs to another reseller", pointer="/account_class_id")
    with transaction.atomic(durable=True):
        account = Account.objects.create(
            reseller=reseller,
            account_class=account_class,
            name=name,
            email=email,
            address=address or "",
            created_at=now,
            updated_at=now,
        )
        record_event(
            "account.created",
            subject=account,
            reseller_id=reseller.pk,
            account_id=account.pk,
            payload={"name": name, "email": email, "account_class_id": account_class.pk},
            actor=actor,
            now=now,
        )
    return account


def create_customer_user(
    *,
    account: Account,
    email: str,
    password: str | None = None,
    role: str = CustomerUser.Role.OWNER,
    actor: Actor,
    now: datetime,
) -> CustomerUser:
    email = clean_email(email, AccountFieldInvalid)
    user_model = get_user_model()
    if user_model.objects.filter(username=email).exists():
        raise AccountFieldInvalid(f"a user {email} already exists", pointer="/email")
    with transaction.atomic(durable=True):
        user = user_model.objects.create_user(username=email, email=email, password=password)
        customer_user = CustomerUser.objects.create(user=user, account=account, role=role, created_at=now)
        record_event(
            "customer_user.created",
            subject=customer_user,
            reseller_id=account.reseller_id,
            account_id=account.pk,
            payload={"email": email, "role": role},
            actor=actor,
            now=now,
        )
    return customer_user
