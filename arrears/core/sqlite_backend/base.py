"""Django's SQLite backend, with writers queuing on a lock file instead of in SQLite's busy handler.

A transaction starts with ``BEGIN IMMEDIATE`` (it takes SQLite's write lock at once). When another
connection holds it, SQLite's busy handler sleeps 1, 2, 5, 10 … up to 100 ms between tries, so under load a
writer sleeps long after the lock came free: that made API writes' p99 latency hundreds of milliseconds.
Here a writer first takes an exclusive ``flock`` on ``<database>.writer-lock``, polling every millisecond
until the database's timeout, and holds it until commit or rollback: waits last as long as the transaction
before it, no longer. The kernel drops the lock of a process that dies.
"""

import fcntl
import functools
import os
import time

from django.db.backends.sqlite3 import base
from django.db.utils import OperationalError

POLL_SECONDS = 0.001


@functools.lru_cache(maxsize=2048)
def _qmark_query(query: str) -> str:
    return base.FORMAT_QMARK_REGEX.sub("?", query).replace("%%", "%")


class CursorWrapper(base.SQLiteCursorWrapper):
    """Django's cursor, converting a query's ``%s`` placeholders to SQLite's ``?`` once per distinct query text:
    the regex over the whole text on every execution cost more than running a small indexed SELECT."""

    def convert_query(self, query, *, param_names=None):
        if param_names is not None:
            return super().convert_query(query, param_names=param_names)
        return _qmark_query(query)


class DatabaseWrapper(base.DatabaseWrapper):
    _writer_lock_fd: int | None = None

    def create_cursor(self, name=None):
        return self.connection.cursor(factory=CursorWrapper)

    def _writer_lock_path(self) -> str | None:
        name = str(self.settings_dict["NAME"])
        return None if name == ":memory:" or name.startswith("file:") else f"{name}.writer-lock"

    def _acquire_writer_lock(self) -> None:
        path = self._writer_lock_path()
        if path is None:
            return
        if self._writer_lock_fd is None:
            self._writer_lock_fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + float(self.settings_dict["OPTIONS"].get("timeout", 5))
        while True:
            try:
                fcntl.flock(self._writer_lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise OperationalError("database is locked (another writer held it too long)") from None
                time.sleep(POLL_SECONDS)

    def _release_writer_lock(self) -> None:
        if self._writer_lock_fd is not None:
            fcntl.flock(self._writer_lock_fd, fcntl.LOCK_UN)

    def _start_transaction_under_autocommit(self):
        self._acquire_writer_lock()
        try:
            super()._start_transaction_under_autocommit()
        except BaseException:
            self._release_writer_lock()
            raise

    def _commit(self):
        try:
            return super()._commit()
        finally:
            self._release_writer_lock()

    def _rollback(self):
        try:
            return super()._rollback()
        finally:
            self._release_writer_lock()

    def _close(self):
        try:
            return super()._close()
        finally:
            if self._writer_lock_fd is not None:
                os.close(self._writer_lock_fd)  # closing drops the lock too
                self._writer_lock_fd = None
