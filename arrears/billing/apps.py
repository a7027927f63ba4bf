from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "arrears.billing"
    label = "billing"
