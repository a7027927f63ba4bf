from django.apps import AppConfig


class ChargesConfig(AppConfig):
    name = "arrears.charges"
    label = "charges"
