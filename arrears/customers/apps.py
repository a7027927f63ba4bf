from django.apps import AppConfig


class CustomersConfig(AppConfig):
    name = "arrears.customers"
    label = "customers"
