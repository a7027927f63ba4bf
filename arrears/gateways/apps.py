from django.apps import AppConfig


class GatewaysConfig(AppConfig):
    name = "arrears.gateways"
    label = "gateways"
