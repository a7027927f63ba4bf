"""What the Huey tasks share: retry only what may pass.

Huey retries a task that raises as many times as its ``retries`` allow (it counts them down itself). A lost
connection or a lock timeout may pass; a failing business rule would fail again, so it stops the retries.
"""

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import InterfaceError, OperationalError
from huey.exceptions import CancelExecution

log = logging.getLogger(__name__)

TRANSIENT_RETRIES = 3
RETRY_DELAY_SECONDS = 60


@contextmanager
def retrying_transient_errors_only(what: str) -> Iterator[None]:
    try:
        yield
    except (OperationalError, InterfaceError):
        raise
    except Exception as exc:
        log.exception("%s failed", what)
        raise CancelExecution(retry=False) from exc
