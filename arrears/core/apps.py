from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "arrears.core"
    label = "core"

    def ready(self):
        from arrears.core import checks  # noqa: F401  (registers the checks)
