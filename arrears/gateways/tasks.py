"""The gateway's periodic job. The task layer is where the wall clock is read."""

import logging

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from arrears.core import clock
from arrears.gateways.services import sweep_open_attempts

log = logging.getLogger(__name__)


@db_periodic_task(crontab(minute="*"))
def sweep_payment_attempts() -> None:
    """Each minute: ask the connectors about attempts still open; time out those past their processing period."""
    asked = sweep_open_attempts(now=clock.wall_clock())
    if asked:
        log.info("payment attempts: asked about %d open attempt(s)", asked)
