from django.db import models


class IdempotencyKey(models.Model):
    """The first response to a POST sent with an ``Idempotency-Key``, replayed for 24 hours.

    A key belongs to the API token that sent it. ``request_hash`` tells a true retry (same body) from a
    reused key (IDEMPOTENCY-0001); a row without ``response_status`` is a call still running
    (IDEMPOTENCY-0002).
    """

    token = models.ForeignKey("tenants.ApiToken", on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField(null=True)
    response_body = models.BinaryField(null=True)
    response_headers = models.JSONField(default=dict)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["token", "key"], name="idempotency_key_unique_per_token")]
        indexes = [models.Index(fields=["created_at"], name="idempotency_key_age_idx")]
