from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "arrears.notifications"
    label = "notifications"

    def ready(self):
        # Imported once the models are: these modules import them.
        from arrears.events import outbox
        from arrears.notifications.catalog import NOTIFIABLE_EVENTS
        from arrears.notifications.dispatch import fan_out, serves_anyone

        # The notifiable events are fanned out to the handlers that serve their reseller (R43). ``serves_anyone``
        # lets the billing day skip announcing what no handler would send.
        outbox.subscribe("notifications", NOTIFIABLE_EVENTS, fan_out, reacts_for=serves_anyone)
