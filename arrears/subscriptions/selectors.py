"""Reading subscriptions of a reseller the caller may see (see arrears.tenants.selectors)."""

from arrears.subscriptions.errors import SubscriptionNotFound
from arrears.subscriptions.models import Subscription


def subscriptions_of(reseller):
    return Subscription.objects.filter(reseller=reseller)


def subscription_of(reseller, subscription_id: int) -> Subscription:
    subscription = (
        subscriptions_of(reseller).select_related("plan", "account", "reseller").filter(pk=subscription_id).first()
    )
    if subscription is None:
        raise SubscriptionNotFound(f"no subscription {subscription_id} is visible to this token")
    return subscription
