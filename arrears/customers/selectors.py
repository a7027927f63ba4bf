"""Reading accounts of a reseller the caller may see (see arrears.tenants.selectors)."""

from arrears.customers.errors import AccountNotFound
from arrears.customers.models import Account


def accounts_of(reseller):
    return Account.objects.filter(reseller=reseller)


def account_of(reseller, account_id: int, *, not_found=AccountNotFound) -> Account:
    account = accounts_of(reseller).filter(pk=account_id).first()
    if account is None:
        raise not_found(f"no account {account_id} is visible to this token")
    return account
