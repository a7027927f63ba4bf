"""Reading accounts of a reseller the caller may see (see arrears.tenants.selectors), and a customer's own
balance ledger."""

from django.db.models import F, Sum, Window

from arrears.customers.errors import AccountNotFound
from arrears.customers.models import Account, BalanceEntry


def accounts_of(reseller):
    return Account.objects.filter(reseller=reseller)


def account_of(reseller, account_id: int, *, not_found=AccountNotFound) -> Account:
    account = accounts_of(reseller).filter(pk=account_id).first()
    if account is None:
        raise not_found(f"no account {account_id} is visible to this token")
    return account


def balance_entries_of(account):
    """The balance ledger of ``account``, newest first, each entry with ``balance_after`` (the balance once it was
    booked: the running sum of the ledger up to it) and its payment. A customer user sees only their own account's
    (R46)."""
    return (
        BalanceEntry.objects.filter(account=account)
        .select_related("payment")
        .annotate(balance_after=Window(Sum("amount"), order_by=F("id").asc()))
        .order_by("-id")
    )
