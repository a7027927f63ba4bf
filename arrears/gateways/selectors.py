"""Reads of connectors and attempts, scoped by the reseller or the account that asks (R46)."""

from django.db.models import Prefetch, QuerySet

from arrears.gateways.errors import AttemptNotFound, ConnectorNotFound
from arrears.gateways.models import AttemptLogEntry, PaymentAttempt, PaymentConnector
from arrears.payments.models import Payment, PaymentMethod


def connectors_of(reseller) -> QuerySet[PaymentConnector]:
    return PaymentConnector.objects.filter(reseller=reseller)


def connector_of(reseller, connector_id: int) -> PaymentConnector:
    try:
        return connectors_of(reseller).get(pk=connector_id)
    except PaymentConnector.DoesNotExist:
        raise ConnectorNotFound(f"no connector {connector_id}") from None


def charge_of(payment: Payment) -> tuple[int, str]:
    """What a connector charges for ``payment``: the external total and currency when the ERP stated one (R19) —
    the payment's own total stays as it is — else the payment's total."""
    if payment.external_total is not None and payment.external_currency:
        return payment.external_total, payment.external_currency
    return payment.total, payment.currency


def gateway_methods_of(reseller) -> list[PaymentMethod]:
    """Active connector methods ``reseller`` offers its customers. Only its own: a connector belongs to the
    reseller whose gateway account takes the money, so a parent's connector is not offered below it."""
    return list(
        PaymentMethod.objects.filter(
            reseller=reseller, kind=PaymentMethod.Kind.GATEWAY, active=True, connector__active=True
        )
        .select_related("connector")
        .order_by("name", "id")
    )


def gateway_methods_for(payment: Payment) -> list[PaymentMethod]:
    """The connector methods a customer may pay ``payment`` with: offered, and accepting the charge's currency."""
    _, currency = charge_of(payment)
    return [
        method
        for method in gateway_methods_of(payment.reseller)
        if method.connector is not None and currency in method.connector.currencies
    ]


def attempts_of(payment: Payment) -> list[PaymentAttempt]:
    """The payment's attempts, newest first, each with its log in order."""
    return list(
        PaymentAttempt.objects.filter(payment=payment)
        .select_related("connector")
        .prefetch_related(Prefetch("log", queryset=AttemptLogEntry.objects.order_by("id")))
        .order_by("-id")
    )


def attempt_of_account(account, public_id: str) -> PaymentAttempt:
    attempt = (
        (
            PaymentAttempt.objects.filter(account=account, public_id=public_id)
            .select_related("connector", "payment")
            .first()
        )
        if isinstance(public_id, str)
        else None
    )
    if attempt is None:
        raise AttemptNotFound("no such payment attempt")
    return attempt
