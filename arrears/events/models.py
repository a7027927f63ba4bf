from django.db import models


class Event(models.Model):
    """Append-only record of a state change: the audit log (R45) and the outbox in one table.

    ``occurred_at`` is the business time the change took effect (the injected ``now``);
    ``id`` orders events and serves as the change-feed cursor.
    """

    type = models.CharField(max_length=64)
    reseller = models.ForeignKey("tenants.Reseller", on_delete=models.PROTECT, related_name="+")
    account = models.ForeignKey("customers.Account", null=True, on_delete=models.PROTECT, related_name="+")
    subject_type = models.CharField(max_length=32)
    subject_id = models.BigIntegerField()
    payload = models.JSONField(default=dict)
    actor_kind = models.CharField(max_length=20)
    actor_id = models.BigIntegerField(null=True)
    actor_label = models.CharField(max_length=255)
    occurred_at = models.DateTimeField()

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["subject_type", "subject_id"], name="event_subject_idx"),
            models.Index(fields=["reseller", "id"], name="event_feed_idx"),
        ]


class PendingDispatch(models.Model):
    """The outbox proper: events of a type something subscribed to (``arrears.events.outbox``) not yet handed to
    their subscribers. Written in the transaction of the event, deleted by the dispatch that handed them over."""

    event = models.OneToOneField(Event, primary_key=True, on_delete=models.CASCADE, related_name="+")
