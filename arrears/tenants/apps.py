from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "arrears.tenants"
    label = "tenants"
