"""Event delivery jobs for the Huey consumer. The task layer is where the wall clock is read.

A commit that wrote notifiable events enqueues ``dispatch_events``; a dispatch enqueues the sending of the
deliveries it wrote. The periodic ``dispatch_and_deliver`` is the safety net and the retry schedule: it fans out
what a lost task left in the outbox and sends every delivery whose next attempt is due.
"""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task, lock_task

from arrears.core import clock
from arrears.events.dispatch import deliver, deliver_due, dispatch_pending_events


@db_task()
def dispatch_events() -> None:
    dispatch_pending_events(now=clock.wall_clock())


@db_task()
def deliver_deliveries(delivery_ids: list[int]) -> None:
    for delivery_id in delivery_ids:
        deliver(delivery_id, now=clock.wall_clock())


@db_periodic_task(crontab(minute="*"))
@lock_task("events-dispatch-and-deliver")  # a slow run is not overtaken by the next minute's
def dispatch_and_deliver() -> None:
    dispatch_pending_events(now=clock.wall_clock())
    deliver_due(now=clock.wall_clock())
