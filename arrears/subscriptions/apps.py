from django.apps import AppConfig


class SubscriptionsConfig(AppConfig):
    name = "arrears.subscriptions"
    label = "subscriptions"
