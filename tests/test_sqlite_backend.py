"""The SQLite backend's writer lock (arrears/core/sqlite_backend): writers queue on ``<database>.writer-lock``.

Each test opens a scratch SQLite file of its own through the backend, configured as the settings configure the
default database (but for a short SQLite timeout, so that a broken lock fails a test instead of stalling it), so
the module runs the same on the SQLite and the PostgreSQL test runs.
"""

import contextlib
import fcntl
import os
import signal
import sqlite3
import subprocess
import sys
import threading

import pytest
from django.db import IntegrityError
from django.db.utils import ConnectionHandler, OperationalError

from arrears.settings import _database_from_url

# Long enough that a writer which ignored the lock would have finished well before it.
HELD_SECONDS = 0.3


def _scratch_settings(path) -> dict:
    config = _database_from_url(f"sqlite:///{path}")
    config["OPTIONS"]["timeout"] = 3
    return config


@pytest.fixture
def scratch(tmp_path, django_db_blocker):
    """``(connections, path)``: a handler giving each thread its own connection to a fresh database file (not
    the test database, which pytest-django guards)."""
    path = tmp_path / "scratch.sqlite3"
    handler = ConnectionHandler({"default": _scratch_settings(path)})
    with django_db_blocker.unblock():
        with handler["default"].cursor() as cursor:
            cursor.execute("CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)")
            cursor.execute("INSERT INTO counter (id, n) VALUES (1, 0)")
        yield handler, path
        handler.close_all()


def _count(path) -> int:
    with sqlite3.connect(path) as plain:
        return plain.execute("SELECT n FROM counter WHERE id = 1").fetchone()[0]


class HeldLock:
    """The writer lock, held from outside the backend as another process's connection would hold it."""

    def __init__(self, path):
        self.fd = os.open(f"{path}.writer-lock", os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def release(self):
        os.close(self.fd)


def _in_thread(work) -> tuple[threading.Thread, dict]:
    outcome: dict = {}

    def run():
        try:
            outcome["result"] = work()
        except Exception as exc:  # handed to the test, which asserts on it
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


@contextlib.contextmanager
def _fails_after(seconds: float):
    """Turn a wait that would never end into a failure (a signal interrupts a blocking ``flock``)."""

    def give_up(signum, frame):
        pytest.fail(f"still waiting after {seconds} s")

    previous = signal.signal(signal.SIGALRM, give_up)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _transaction(handler, statement: str):
    """One write transaction the way ``transaction.atomic`` runs it on this backend."""

    def work():
        connection = handler["default"]
        connection.set_autocommit(False, force_begin_transaction_with_broken_autocommit=True)
        try:
            with connection.cursor() as cursor:
                cursor.execute(statement)
            connection.commit()
        finally:
            connection.set_autocommit(True)
        return "committed"

    return work


def _autocommit_write(handler, statement: str):
    def work():
        with handler["default"].cursor() as cursor:
            cursor.execute(statement)
        return "written"

    return work


@pytest.mark.parametrize("write", [_transaction, _autocommit_write], ids=["transaction", "autocommit-statement"])
def test_a_writer_waits_for_the_lock_and_writes_once_it_is_let_go(scratch, write):
    handler, path = scratch
    held = HeldLock(path)

    # While another connection holds the writer lock, the write waits and changes nothing
    thread, outcome = _in_thread(write(handler, "UPDATE counter SET n = n + 1 WHERE id = 1"))
    thread.join(HELD_SECONDS)
    assert thread.is_alive() and not outcome
    assert _count(path) == 0

    # and once it is let go, the write goes through
    held.release()
    thread.join(10)
    assert not thread.is_alive()
    assert "error" not in outcome, outcome
    assert _count(path) == 1


def test_reads_do_not_wait_for_the_writer_lock(scratch):
    handler, path = scratch
    held = HeldLock(path)
    try:
        thread, outcome = _in_thread(lambda: handler["default"].cursor().execute("SELECT n FROM counter").fetchall())
        thread.join(5)
        assert outcome == {"result": [(0,)]}
    finally:
        held.release()


def test_a_failed_autocommit_write_lets_the_lock_go(scratch):
    handler, path = scratch

    # A statement refused by the database
    with pytest.raises(IntegrityError):
        _autocommit_write(handler, "INSERT INTO counter (id, n) VALUES (1, 5)")()

    # leaves the writer lock free for the next writer
    HeldLock(path).release()


def test_a_rolled_back_transaction_lets_the_lock_go(scratch):
    handler, path = scratch
    connection = handler["default"]
    connection.set_autocommit(False, force_begin_transaction_with_broken_autocommit=True)
    connection.cursor().execute("UPDATE counter SET n = 7 WHERE id = 1")
    connection.rollback()
    connection.set_autocommit(True)

    HeldLock(path).release()  # free at once
    assert _count(path) == 0


def test_a_second_connection_of_the_same_thread_is_refused_instead_of_waiting_for_itself(scratch, tmp_path):
    handler, path = scratch
    second = ConnectionHandler({"default": _scratch_settings(path)})
    first = handler["default"]
    first.set_autocommit(False, force_begin_transaction_with_broken_autocommit=True)
    try:
        first.cursor().execute("UPDATE counter SET n = 1 WHERE id = 1")

        # The same thread writing through another connection would wait for its own lock forever
        with pytest.raises(OperationalError, match="already holds the writer lock"), _fails_after(5):
            _autocommit_write(second, "UPDATE counter SET n = 2 WHERE id = 1")()

        # and the first connection's transaction carries on
        first.commit()
    finally:
        first.set_autocommit(True)
        second.close_all()
    assert _count(path) == 1

    # Once it is let go, the second connection writes as usual
    _autocommit_write(second, "UPDATE counter SET n = 2 WHERE id = 1")()
    second.close_all()
    assert _count(path) == 2


def test_the_lock_of_a_process_that_dies_is_let_go(scratch):
    handler, path = scratch
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys, time\n"
            f"fd = os.open({str(path)!r} + '.writer-lock', os.O_RDWR | os.O_CREAT)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX)\nprint('held', flush=True)\ntime.sleep(60)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        thread, outcome = _in_thread(_transaction(handler, "UPDATE counter SET n = 3 WHERE id = 1"))
        thread.join(HELD_SECONDS)
        assert thread.is_alive()

        # The holder is killed in the middle of its "transaction": the kernel lets its lock go
        holder.kill()
        thread.join(10)
        assert outcome == {"result": "committed"}
        assert _count(path) == 3
    finally:
        holder.kill()
        holder.wait()


@pytest.fixture
def bounded_scratch(scratch):
    """The scratch database with a bounded writer wait, as under ``arrears web``."""
    handler, path = scratch
    handler.settings["default"]["WRITER_WAIT_SECONDS"] = 1.0
    handler["default"].settings_dict["WRITER_WAIT_SECONDS"] = 1.0
    return handler, path


def test_a_bounded_writer_in_a_thread_waits_and_writes_once_the_lock_is_let_go(bounded_scratch):
    # The request threads of arrears.asgi: a timer signal cannot interrupt their wait
    handler, path = bounded_scratch
    held = HeldLock(path)
    thread, outcome = _in_thread(_transaction(handler, "UPDATE counter SET n = n + 1 WHERE id = 1"))
    thread.join(HELD_SECONDS)
    assert thread.is_alive() and not outcome
    held.release()
    thread.join(10)
    assert outcome == {"result": "committed"}
    assert _count(path) == 1


def test_a_bounded_writer_in_a_thread_gives_up_and_leaves_the_lock_to_the_next(bounded_scratch):
    from arrears.core.sqlite_backend.base import WriterBusy

    handler, path = bounded_scratch
    held = HeldLock(path)
    # Given a writer in a thread that gives up after its wait, with nothing written
    thread, outcome = _in_thread(_transaction(handler, "UPDATE counter SET n = n + 1 WHERE id = 1"))
    thread.join(10)
    assert isinstance(outcome.get("error"), WriterBusy), outcome
    assert _count(path) == 0

    # When the lock is let go, the given-up wait (its helper thread still queued for it) does not keep it: the
    # next writer gets it, and after that another process
    held.release()
    thread, outcome = _in_thread(_transaction(handler, "UPDATE counter SET n = n + 1 WHERE id = 1"))
    thread.join(10)
    assert outcome == {"result": "committed"}
    HeldLock(path).release()  # a non-blocking try: raises if anyone still held it
    assert _count(path) == 1
