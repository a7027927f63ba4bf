from django.apps import AppConfig


class SubscriptionsConfig(AppConfig):
    name = "arrears.subscriptions"
    label = "subscriptions"

    def ready(self) -> None:
        # Imported here, not above: the services import models, which only exist once the app registry is ready.
        from arrears.payments.services import payment_status_changed
        from arrears.subscriptions.services import refresh_blocks_after_payment_change

        # Payments sit below subscriptions and cannot call them: a payment's change reaches the blocking this way,
        # inside the payment service's transaction.
        payment_status_changed.register(refresh_blocks_after_payment_change)
