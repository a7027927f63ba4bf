"""How often the API may be called: per token, and per client address for calls without a valid token.

Both budgets are fixed windows ("50/s": at most 50 calls in each whole second) counted where every worker process
of the site sees the same count:

* Redis, when ``ARREARS_CACHE_URL`` names one: ``INCR`` of a key that expires with its window (several machines);
* else the database: on PostgreSQL a row per counter in ``api_rate_counter``, on SQLite a file of its own beside
  the database (``rate-counters.sqlite3``), so that counting a read never waits for the database's one writer
  (a billing day holds it for minutes). One ``INSERT … ON CONFLICT … RETURNING`` counts a call, atomically.

The address budget (``ARREARS_API_ADDRESS_THROTTLE``) counts the calls that come without a token or with one that
is not live, and is checked before the token is looked up: an address that spent it answers 429 at once, whatever
it sends, until the window ends. An ERP with a valid token never spends it. Both run in the middleware before the
Idempotency-Key is claimed, so a throttled call writes nothing.
"""

import contextlib
import functools
import logging
import math
import re
import sqlite3
import threading
from dataclasses import dataclass

import redis.exceptions
from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse

from arrears.api.auth import looked_up_token
from arrears.api.errors import TooManyRequests
from arrears.api.jsonapi import render_error
from arrears.core import clock
from arrears.core.sqlite_backend.base import WriterBusy

logger = logging.getLogger(__name__)

PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
RATE = re.compile(r"^([1-9][0-9]{0,8})/([smhd])$")


@dataclass(frozen=True)
class Budget:
    calls: int
    seconds: int

    @classmethod
    def parse(cls, rate: str | None) -> "Budget | None":
        """``"50/s"`` → 50 calls a second; None or ``"off"`` → no budget."""
        if not rate or rate == "off":
            return None
        match = RATE.match(rate)
        if match is None:
            raise ValueError(f"a throttle rate is N/s, N/m, N/h or N/d (or off), got {rate!r}")
        return cls(int(match[1]), PERIODS[match[2]])

    def window_end(self, now: float) -> int:
        return (math.floor(now) // self.seconds + 1) * self.seconds


UPSERT = (
    "INSERT INTO api_rate_counter (key, window_end, hits) VALUES (%s, %s, 1) ON CONFLICT (key) DO UPDATE "
    "SET hits = CASE WHEN api_rate_counter.window_end = excluded.window_end THEN api_rate_counter.hits + 1 "
    "ELSE 1 END, window_end = excluded.window_end RETURNING hits"
)
PEEK = "SELECT hits FROM api_rate_counter WHERE key = %s AND window_end = %s"
PURGE = "DELETE FROM api_rate_counter WHERE window_end < %s"
CREATE = (
    "CREATE TABLE IF NOT EXISTS api_rate_counter (key TEXT PRIMARY KEY, window_end BIGINT NOT NULL, hits "
    "INTEGER NOT NULL)"
)


class DatabaseCounters:
    """The counters in ``api_rate_counter`` of the site's PostgreSQL database (a migration makes the table)."""

    def hit(self, key: str, window_end: int) -> int:
        with connection.cursor() as cursor:
            cursor.execute(UPSERT, [key, window_end])
            return cursor.fetchone()[0]

    def peek(self, key: str, window_end: int) -> int:
        with connection.cursor() as cursor:
            cursor.execute(PEEK, [key, window_end])
            row = cursor.fetchone()
        return row[0] if row else 0

    def purge(self, now: float) -> int:
        with connection.cursor() as cursor:
            cursor.execute(PURGE, [math.floor(now)])
            return cursor.rowcount


class SqliteFileCounters:
    """The counters in a SQLite file of their own, one connection per thread, in autocommit."""

    def __init__(self, path: str):
        self.path = path
        self.local = threading.local()

    def _connection(self) -> sqlite3.Connection:
        db = getattr(self.local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=2, isolation_level=None, check_same_thread=False)
            # WAL sticks to the file; when several processes open a new file at once, one of them switches it and
            # the others may find it locked for that moment.
            with contextlib.suppress(sqlite3.OperationalError):
                db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute(CREATE)
            self.local.db = db
        return db

    def hit(self, key: str, window_end: int) -> int:
        return self._connection().execute(UPSERT.replace("%s", "?"), (key, window_end)).fetchone()[0]

    def peek(self, key: str, window_end: int) -> int:
        row = self._connection().execute(PEEK.replace("%s", "?"), (key, window_end)).fetchone()
        return row[0] if row else 0

    def purge(self, now: float) -> int:
        return self._connection().execute(PURGE.replace("%s", "?"), (math.floor(now),)).rowcount


class CacheCounters:
    """The counters in Django's cache, when it is Redis (``ARREARS_CACHE_URL``): ``add`` then ``INCR`` is atomic
    there, and each key expires with its window."""

    def hit(self, key: str, window_end: int) -> int:
        name = f"arrears-rate:{key}:{window_end}"
        cache.add(name, 0, timeout=max(1, window_end - math.floor(clock.wall_clock().timestamp())) + 1)
        return cache.incr(name)

    def peek(self, key: str, window_end: int) -> int:
        return cache.get(f"arrears-rate:{key}:{window_end}", 0)

    def purge(self, now: float) -> int:
        return 0  # the keys expire by themselves


def counters():
    if settings.ARREARS_CACHE_URL:
        return CacheCounters()
    if connection.vendor == "sqlite":
        return _sqlite_counters(str(settings.ARREARS_RATE_COUNTER_FILE))
    return DatabaseCounters()


@functools.cache
def _sqlite_counters(path: str) -> SqliteFileCounters:
    """One store per file and process, so that each thread keeps its connection."""
    return SqliteFileCounters(path)


def client_address(request: HttpRequest) -> str:
    """The caller's address: the TCP peer, or behind a proxy (``ARREARS_PROXY_FORWARDED_FOR=1``) the address the
    proxy appended last to ``X-Forwarded-For`` — the one it saw, not one a client claimed before it."""
    if settings.ARREARS_PROXY_FORWARDED_FOR:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "").rsplit(",", 1)[-1].strip()
        if forwarded:
            return forwarded
    return request.META.get("REMOTE_ADDR", "") or "unknown"


def _throttled(budget: Budget, now: float, whose: str) -> HttpResponse:
    retry_after = max(1, budget.window_end(now) - math.floor(now))
    return render_error(
        TooManyRequests(f"{whose} request budget is spent; retry in {retry_after} s"),
        headers={"Retry-After": str(retry_after)},
    )


class ApiThrottle:
    """Counts every API call against its budget before anything else of the API runs."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path_info.startswith("/api/v3/"):
            return self.get_response(request)
        token_budget = Budget.parse(settings.ARREARS_API_THROTTLE)
        address_budget = Budget.parse(settings.ARREARS_API_ADDRESS_THROTTLE)
        now = clock.wall_clock().timestamp()
        store = counters() if token_budget or address_budget else None  # None: nothing to count
        address_key = f"address:{client_address(request)}"
        if (
            address_budget
            and store is not None
            and self._count(store.peek, address_key, address_budget, now) >= address_budget.calls
        ):
            return _throttled(address_budget, now, "this address's")
        token = looked_up_token(request)
        if token is None:
            if address_budget and store is not None:
                self._count(store.hit, address_key, address_budget, now)
        elif (
            token_budget
            and store is not None
            and self._count(store.hit, f"token:{token.pk}", token_budget, now) > token_budget.calls
        ):
            return _throttled(token_budget, now, "this token's")
        return self.get_response(request)

    @staticmethod
    def _count(operation, key: str, budget: Budget, now: float) -> int:
        """A counter's value; 0 when its store fails: a throttle that cannot count lets the call through rather
        than turn the API away."""
        try:
            return operation(key, budget.window_end(now))
        except (DatabaseError, sqlite3.Error, WriterBusy, redis.exceptions.RedisError) as exc:
            logger.warning("API throttle counter unavailable (%s); the call goes through uncounted", exc)
            return 0


def purge_rate_counters(*, now) -> int:
    """Delete the counters of windows that have ended (the Redis keys expire by themselves)."""
    with contextlib.suppress(WriterBusy):
        return counters().purge(now.timestamp())
    return 0
