from django.apps import AppConfig


class ServerConfig(AppConfig):
    """The servers' commands: ``arrears serve`` (the whole product in one process tree) and ``arrears web``. An
    entry point beside the command line, the API and the panels: serve starts what billing and gateways run."""

    name = "arrears.server"
    label = "server"
