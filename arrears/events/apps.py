from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "arrears.events"
    label = "events"
