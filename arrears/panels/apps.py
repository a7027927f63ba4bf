from django.apps import AppConfig


class PanelsConfig(AppConfig):
    """The panels' shared design system: the page shell, tables, form fields, badges and money formatting."""

    name = "arrears.panels"
    label = "panels"
