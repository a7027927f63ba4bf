from django.apps import AppConfig


class OperatorPanelConfig(AppConfig):
    name = "arrears.panels.operator"
    label = "operator_panel"
