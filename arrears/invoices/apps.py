from django.apps import AppConfig


class InvoicesConfig(AppConfig):
    name = "arrears.invoices"
    label = "invoices"
