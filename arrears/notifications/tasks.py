"""Delivery jobs for the Huey consumer. The task layer is where the wall clock is read.

A dispatch enqueues the sending of the deliveries it wrote (``enqueue_sending``, after its commit), as do a resend
and a replay. The periodic ``deliver_what_is_due`` is the safety net and the retry schedule: it sends every delivery
whose next attempt is due.
"""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task, lock_task

from arrears.core import clock
from arrears.notifications.sending import deliver, deliver_due

# Deliveries per sending task: one task per delivery would be thousands of queue writes after a billing day, one
# task for all would send them one after another.
DELIVERIES_PER_TASK = 20


@db_task()
def deliver_deliveries(delivery_ids: list[int]) -> None:
    for delivery_id in delivery_ids:
        deliver(delivery_id, now=clock.wall_clock())


def enqueue_sending(delivery_ids: list[int]) -> None:
    """Ask the queue to send these deliveries (called after the commit that made them due)."""
    for start in range(0, len(delivery_ids), DELIVERIES_PER_TASK):
        deliver_deliveries(delivery_ids[start : start + DELIVERIES_PER_TASK])


@db_periodic_task(crontab(minute="*"))
@lock_task("notifications-deliver")  # a slow run is not overtaken by the next minute's
def deliver_what_is_due() -> None:
    deliver_due(now=clock.wall_clock())
