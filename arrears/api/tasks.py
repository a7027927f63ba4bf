"""API housekeeping for the Huey consumer. The task layer is where the wall clock is read."""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from arrears.api.idempotency import purge_expired_keys
from arrears.api.throttling import purge_rate_counters
from arrears.core import clock


@db_periodic_task(crontab(minute="17"))
def purge_expired_idempotency_keys() -> None:
    # Hourly; no retries: the next hour's run is the retry, and it deletes whatever this one left.
    purge_expired_keys(now=clock.wall_clock())


@db_periodic_task(crontab(minute="*/10"))
def purge_ended_rate_counters() -> None:
    # The counters of ended windows: one row per token or address that called, so a flood from many addresses
    # leaves rows behind until this runs.
    purge_rate_counters(now=clock.wall_clock())
