"""API housekeeping for the Huey consumer. The task layer is where the wall clock is read."""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from arrears.api.idempotency import purge_expired_keys
from arrears.core import clock


@db_periodic_task(crontab(minute="17"))
def purge_expired_idempotency_keys() -> None:
    # Hourly; no retries: the next hour's run is the retry, and it deletes whatever this one left.
    purge_expired_keys(now=clock.wall_clock())
