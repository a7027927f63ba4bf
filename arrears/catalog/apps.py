from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "arrears.catalog"
    label = "catalog"
