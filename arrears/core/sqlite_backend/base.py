"""Django's SQLite backend, with writers queuing in the kernel on a lock file instead of in SQLite's busy handler.

A transaction starts with ``BEGIN IMMEDIATE`` (it takes SQLite's write lock at once). When another connection
holds it, SQLite's busy handler sleeps 1, 2, 5, 10 … up to 100 ms between tries, so under load a writer sleeps
long after the lock came free: that made API writes' p99 latency hundreds of milliseconds. Here a writer first
takes an exclusive ``flock`` on ``<database>.writer-lock`` and holds it until commit or rollback.

The wait is a blocking ``flock``: the kernel queues the writers and wakes the next one the moment the lock is let
go. (Polling it instead, even every millisecond, left the lock idle for most of each wait: the API's writes ran
at four fifths of the rate, with half as much again p99 latency.) A blocking ``flock`` has no timeout, so a
writer waits as long as the transactions before it take; SQLite's own ``timeout`` still bounds what SQLite
itself waits for. The kernel drops the lock of a process that dies. The one wait that could never end, a thread
asking for the lock through a second connection while its first one holds it, is refused at once.

A web request must not wait past its worker's timeout, though (say behind a long billing day): with
``WRITER_WAIT_SECONDS`` in the database settings (``ARREARS_WRITER_WAIT_SECONDS``; ``arrears web`` sets it), a
writer that has not got the lock within that time gives up with :class:`WriterBusy` before it changed anything,
and the API answers 503 with ``Retry-After``. The bound costs nothing while the lock is free (a non-blocking
try); a contended wait in the main thread stays a blocking ``flock``, interrupted by a timer signal at the
deadline; in other threads a helper thread waits in the kernel for it.

A write outside a transaction (an UPDATE in autocommit mode, such as a token's ``last_used_at``) takes the same
lock for its statement: left to SQLite's busy handler it would sleep through a steady stream of queued writers,
once for over a second under load.
"""

import contextlib
import fcntl
import functools
import os
import signal
import threading

from django.db.backends.sqlite3 import base
from django.db.utils import OperationalError


@functools.lru_cache(maxsize=2048)
def _qmark_query(query: str) -> str:
    return base.FORMAT_QMARK_REGEX.sub("?", query).replace("%%", "%")


WRITE_STATEMENTS = ("INSERT", "UPDATE", "DELETE", "REPLACE")


@functools.lru_cache(maxsize=2048)
def _writes(query: str) -> bool:
    return query.lstrip()[:7].upper().startswith(WRITE_STATEMENTS)


class WriterBusy(OperationalError):
    """The writer lock did not come free within ``WRITER_WAIT_SECONDS``: nothing was written; try again later."""

    def __init__(self, waited: float):
        super().__init__(f"the database is busy with a long write; gave up after {waited:g} s")
        self.waited = waited


class _Deadline(Exception):
    pass


def _on_deadline(signum, frame):
    raise _Deadline


def _flock_within(fd: int, seconds: float, path: str) -> int:
    """An exclusive ``flock`` within ``seconds``, or :class:`WriterBusy`; returns the descriptor that holds it
    (``fd``, or in a thread other than the main one a new descriptor of ``path`` that replaces it)."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return fd
    except BlockingIOError:
        pass
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGALRM, _on_deadline)
        signal.setitimer(signal.ITIMER_REAL, seconds)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            return fd
        except _Deadline:
            raise WriterBusy(seconds) from None
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
    return _flock_in_helper_thread(path, seconds)


def _flock_in_helper_thread(path: str, seconds: float) -> int:
    """The kernel's queue for a thread that a timer signal cannot interrupt (the threads of arrears.core
    .buffered_wsgi): a helper thread waits in a blocking ``flock`` on a descriptor of its own, and this thread
    waits for it at most ``seconds``. Polling instead ran the API's writes at four fifths of the rate. A helper
    that gets the lock after its caller gave up lets it go and closes its descriptor, which nobody else uses."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    taken = threading.Event()
    handover = threading.Lock()
    abandoned = False

    def wait_in_the_kernel():
        fcntl.flock(fd, fcntl.LOCK_EX)
        with handover:
            if abandoned:
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
            else:
                taken.set()

    threading.Thread(target=wait_in_the_kernel, name="writer-lock-wait", daemon=True).start()
    taken.wait(seconds)
    with handover:
        if taken.is_set():
            return fd
        abandoned = True
    raise WriterBusy(seconds)


# The lock files whose writer lock a thread of this process holds, and which thread: the same thread asking again
# through another connection would wait for itself forever.
_HOLDERS: dict[str, int] = {}


class CursorWrapper(base.SQLiteCursorWrapper):
    """Django's cursor, converting a query's ``%s`` placeholders to SQLite's ``?`` once per distinct query text
    (the regex over the whole text on every execution cost more than running a small indexed SELECT), and
    taking the writer lock around a write that runs outside a transaction."""

    database: "DatabaseWrapper"

    def _lock_if_lone_write(self, query: str):
        if self.database.autocommit and _writes(query):
            return self.database.writer_lock()
        return contextlib.nullcontext()

    def execute(self, query, params=None):
        with self._lock_if_lone_write(query):
            return super().execute(query, params)

    def executemany(self, query, param_list):
        with self._lock_if_lone_write(query):
            return super().executemany(query, param_list)

    def convert_query(self, query, *, param_names=None):
        if param_names is not None:
            return super().convert_query(query, param_names=param_names)
        return _qmark_query(query)


class DatabaseWrapper(base.DatabaseWrapper):
    _writer_lock_fd: int | None = None
    _writer_lock_held: str | None = None  # the lock file, while this connection holds its lock

    def create_cursor(self, name=None):
        cursor = self.connection.cursor(factory=CursorWrapper)
        cursor.database = self
        return cursor

    @contextlib.contextmanager
    def writer_lock(self):
        """The writer lock for one statement in autocommit mode (a transaction holds it from BEGIN to its end)."""
        self._acquire_writer_lock()
        try:
            yield
        finally:
            self._release_writer_lock()

    def _writer_lock_path(self) -> str | None:
        name = str(self.settings_dict["NAME"])
        return None if name == ":memory:" or name.startswith("file:") else f"{name}.writer-lock"

    def _acquire_writer_lock(self) -> None:
        path = self._writer_lock_path()
        if path is None:
            return
        if _HOLDERS.get(path) == threading.get_ident():
            raise OperationalError(
                f"this thread already holds the writer lock of {self.settings_dict['NAME']} "
                "through another connection: it would wait for itself"
            )
        if self._writer_lock_fd is None:
            self._writer_lock_fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        wait = self.settings_dict.get("WRITER_WAIT_SECONDS")
        if wait:
            fd = _flock_within(self._writer_lock_fd, wait, path)
            if fd != self._writer_lock_fd:
                os.close(self._writer_lock_fd)
                self._writer_lock_fd = fd
        else:
            fcntl.flock(self._writer_lock_fd, fcntl.LOCK_EX)
        _HOLDERS[path] = threading.get_ident()
        self._writer_lock_held = path

    def _release_writer_lock(self) -> None:
        if self._writer_lock_held is not None:
            _HOLDERS.pop(self._writer_lock_held, None)
            self._writer_lock_held = None
            assert self._writer_lock_fd is not None, "a held lock has its file open until _close releases it"
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
            self._release_writer_lock()
            if self._writer_lock_fd is not None:
                os.close(self._writer_lock_fd)  # closing drops the lock too
                self._writer_lock_fd = None
