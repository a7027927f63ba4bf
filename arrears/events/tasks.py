"""Outbox jobs for the Huey consumer. The task layer is where the wall clock is read.

A commit that wrote outboxed events enqueues ``dispatch_events`` (``arrears.events.services``), which hands them to
their subscribers. The periodic ``dispatch_outbox`` is the safety net: it hands over what a lost task left.
"""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task, lock_task

from arrears.core import clock
from arrears.events.outbox import dispatch_pending_events


@db_task()
def dispatch_events() -> None:
    dispatch_pending_events(now=clock.wall_clock())


@db_periodic_task(crontab(minute="*"))
@lock_task("events-dispatch")  # a slow run is not overtaken by the next minute's
def dispatch_outbox() -> None:
    dispatch_pending_events(now=clock.wall_clock())
