"""``Idempotency-Key`` on every POST of the API (erp-api.md, "Conventions").

The same key with the same request within 24 hours replays the first response byte for byte; with a
different request it answers 422 IDEMPOTENCY-0001; while the first call still runs, 409 IDEMPOTENCY-0002.
Keys belong to the token that sent them. The key is claimed in its own committed row before the call runs,
so a concurrent retry sees it at once; responses that say nothing about the operation (401, 429, 5xx) are
not kept, and the key is freed for a real retry.
"""

import contextlib
import hashlib
import json
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse

from arrears.api.auth import looked_up_token
from arrears.api.errors import IdempotencyKeyInFlight, IdempotencyKeyMalformed, IdempotencyKeyReused
from arrears.api.jsonapi import busy_response, render_error
from arrears.api.models import IdempotencyKey
from arrears.core import clock
from arrears.core.sqlite_backend.base import WriterBusy

HEADER = "Idempotency-Key"
HEADER_META_KEY = "HTTP_IDEMPOTENCY_KEY"
MAX_KEY_LENGTH = 255
REPLAY_WINDOW = timedelta(hours=24)
# A claim this old without a response belongs to a worker that died mid-call; a retry may take it over.
ABANDONED_AFTER = timedelta(minutes=5)
NOT_KEPT = frozenset({401, 429})


def _request_hash(request: HttpRequest) -> str:
    try:
        body = json.dumps(json.loads(request.body), sort_keys=True, separators=(",", ":")).encode()
    except (ValueError, RecursionError):  # not JSON, or nested too deep to parse: the API refuses it as sent
        body = request.body
    method = request.method or ""  # always POST here; Django leaves it None only on a request built by hand
    return hashlib.sha256(b"%s %s\n%s" % (method.encode(), request.path.encode(), body)).hexdigest()


class IdempotencyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # The method first, and META rather than request.headers: most calls are GETs, and building the
        # headers mapping costs more than the rest of this check.
        if request.method != "POST" or not request.path.startswith("/api/"):
            return self.get_response(request)
        key = request.META.get(HEADER_META_KEY)
        if key is None:
            return self.get_response(request)
        if not key.strip() or len(key) > MAX_KEY_LENGTH:
            return render_error(
                IdempotencyKeyMalformed(f"{HEADER} must be 1 to {MAX_KEY_LENGTH} characters", header=HEADER)
            )
        token = looked_up_token(request)
        if token is None:
            return self.get_response(request)  # the API answers 401
        token_id = token.pk
        request_hash = _request_hash(request)
        try:
            claim = self._claim(token_id, key, request_hash)
        except WriterBusy as exc:
            return busy_response(exc)
        if isinstance(claim, HttpResponse):  # a replay, or the refusal a request with this key gets
            return claim
        try:
            response = self.get_response(request)
        except BaseException:
            self._free(claim)
            raise
        if response.status_code >= 500 or response.status_code in NOT_KEPT:
            self._free(claim)
        else:
            IdempotencyKey.objects.filter(pk=claim.pk).update(
                response_status=response.status_code,
                response_body=response.content,
                response_headers={"Content-Type": response["Content-Type"]},
            )
        return response

    @staticmethod
    def _free(claim: IdempotencyKey) -> None:
        """Let a retry claim the key again. If the writer is too busy even for this, the claim stays until it
        counts as abandoned (``ABANDONED_AFTER``), and a retry then takes it over."""
        with contextlib.suppress(WriterBusy):
            IdempotencyKey.objects.filter(pk=claim.pk).delete()

    def _claim(self, token_id: int, key: str, request_hash: str) -> IdempotencyKey | HttpResponse:
        """Either a fresh claim on the key, or the response a request with this key must get instead."""
        now = clock.wall_clock()
        for _ in range(2):
            try:
                with transaction.atomic():
                    return IdempotencyKey.objects.create(
                        token_id=token_id, key=key, request_hash=request_hash, created_at=now
                    )
            except IntegrityError:
                pass
            earlier = IdempotencyKey.objects.filter(token_id=token_id, key=key).first()
            if earlier is None:
                continue  # freed meanwhile: claim again
            expired = earlier.created_at < now - REPLAY_WINDOW
            abandoned = earlier.response_status is None and earlier.created_at < now - ABANDONED_AFTER
            if expired or abandoned:
                IdempotencyKey.objects.filter(pk=earlier.pk, created_at=earlier.created_at).delete()
                continue
            if earlier.request_hash != request_hash:
                return render_error(
                    IdempotencyKeyReused(f"{HEADER} {key!r} was used for a different request", header=HEADER)
                )
            if earlier.response_status is None:
                return render_error(
                    IdempotencyKeyInFlight(
                        f"the first request with {HEADER} {key!r} is still running; retry later", header=HEADER
                    )
                )
            # The body is stored with the status, in one UPDATE: a kept response has both.
            replay = HttpResponse(
                bytes(earlier.response_body or b""),
                status=earlier.response_status,
                content_type=earlier.response_headers.get("Content-Type"),
            )
            replay["Idempotent-Replayed"] = "true"
            return replay
        return render_error(
            IdempotencyKeyInFlight(f"the request with {HEADER} {key!r} is changing; retry later", header=HEADER)
        )


# Rows deleted per statement: each purge statement is one short write, so it never holds SQLite's writer for long.
PURGE_BATCH = 5000


def purge_expired_keys(*, now) -> int:
    """Delete the keys older than the replay window (they answer nothing any more), oldest first, in batches on
    the ``created_at`` index. Returns how many went."""
    deleted = 0
    cutoff = now - REPLAY_WINDOW
    while True:
        batch = list(
            IdempotencyKey.objects.filter(created_at__lt=cutoff)
            .order_by("created_at")
            .values_list("pk", flat=True)[:PURGE_BATCH]
        )
        if not batch:
            return deleted
        deleted += IdempotencyKey.objects.filter(pk__in=batch).delete()[0]
