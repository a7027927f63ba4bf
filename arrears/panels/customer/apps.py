from django.apps import AppConfig


class CustomerPanelConfig(AppConfig):
    """The Customer Control Panel: a customer user sees their account's invoices, payments and balance, and pays."""

    name = "arrears.panels.customer"
    label = "customer_panel"
