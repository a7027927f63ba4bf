"""What ``arrears web`` and ``arrears serve`` run: the WSGI site (arrears.wsgi) behind gunicorn's asyncio worker,
which reads every request whole before a thread runs it.

Why (issue 12, measured in bench/README.md, "Slow clients"): a sync worker reads the request body itself, so a
client that declares ``Content-Length: 100`` and sends one byte holds the worker until the body arrives; one
such upload per worker, plus one, and ``/healthz`` times out. Threads only raise the number of uploads needed
(and cost a quarter of the write rate), a socket deadline still lets workers+1 clients hold every worker for
as long as the deadline, and Django's own ASGI handler cost seven times the CPU of a ``/healthz``. Here
gunicorn's ``asgi`` worker (asyncio) reads heads and bodies of any number of connections side by side, this
adapter keeps the body until the last byte has come, and only then does one of ``threads`` threads run the
unchanged WSGI application (one per process by default: on SQLite a request is CPU work, see
``arrears.server.management.commands.web``). A stalled upload holds a coroutine, not a worker, and is answered
408 after ``BODY_IDLE_SECONDS`` without a byte or ``BODY_DEADLINE_SECONDS`` in all.

A body declared larger than ``settings.DATA_UPLOAD_MAX_MEMORY_SIZE`` is not read: the application gets the
request with an empty body and refuses it by its ``Content-Length`` (413 under /api/), as it did before.
Responses of up to ``STREAM_AFTER_BYTES`` are sent in one piece from the loop; larger ones (CSV exports,
downloads) stream chunk by chunk from the thread, so memory stays flat.
"""

import asyncio
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings

from arrears.api.errors import RequestRefused
from arrears.api.jsonapi import render_error
from arrears.wsgi import application as wsgi_application

BODY_IDLE_SECONDS = 10.0  # the longest pause between two pieces of a request body
BODY_DEADLINE_SECONDS = 120.0  # the whole body: 15 MiB at about 1 Mbit/s
STREAM_AFTER_BYTES = 256 * 1024
SPOOL_TO_DISK_AFTER_BYTES = 1024 * 1024


class BodyStalled(Exception):
    pass


class BufferedWsgi:
    """An ASGI application serving a WSGI one: body first, then ``threads`` threads run it."""

    def __init__(self, wsgi_application, *, threads: int = 1):
        self.wsgi_application = wsgi_application
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="wsgi")

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return  # no websockets here
        try:
            body = await _read_body(scope, receive)
        except BodyStalled as exc:
            await _send_whole(send, *_stalled_answer(scope, str(exc)))
            return
        if body is None:
            return  # the client went away: nobody to answer
        loop = asyncio.get_running_loop()
        try:
            answer = await loop.run_in_executor(self.executor, self._run, scope, body, loop, send)
        finally:
            body.close()
        if answer is not None:
            await _send_whole(send, *answer)

    def _run(self, scope, body, loop, send):
        """In a thread: the WSGI call. Returns (status, headers, body) when the response is small enough to send
        whole; otherwise sends it chunk by chunk itself and returns None."""
        started = {}

        def start_response(status, headers, exc_info=None):
            if exc_info and started.get("sent"):
                raise exc_info[1].with_traceback(exc_info[2])
            started["status"] = int(status.split(" ", 1)[0])
            started["headers"] = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers]
            return lambda data: None  # the legacy write() callable; Django never uses it

        def send_from_thread(message):
            asyncio.run_coroutine_threadsafe(send(message), loop).result()

        iterable = self.wsgi_application(_environ(scope, body), start_response)
        try:
            chunks, size, streaming = [], 0, False
            for chunk in iterable:
                if not chunk:
                    continue
                if streaming:
                    send_from_thread({"type": "http.response.body", "body": chunk, "more_body": True})
                    continue
                chunks.append(chunk)
                size += len(chunk)
                if size > STREAM_AFTER_BYTES:
                    streaming = started["sent"] = True
                    send_from_thread(
                        {"type": "http.response.start", "status": started["status"], "headers": started["headers"]}
                    )
                    send_from_thread({"type": "http.response.body", "body": b"".join(chunks), "more_body": True})
                    chunks = []
            if streaming:
                send_from_thread({"type": "http.response.body", "body": b""})
                return None
            return started["status"], started["headers"], b"".join(chunks)
        finally:
            if hasattr(iterable, "close"):
                iterable.close()  # Django's request_finished: the database connection's end of request


async def _read_body(scope, receive):
    """The whole body in a spooled file, or None if the client disconnected; BodyStalled if it stopped sending."""
    declared = _declared_length(scope)
    body = tempfile.SpooledTemporaryFile(max_size=SPOOL_TO_DISK_AFTER_BYTES)
    if declared is not None and declared > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
        return body  # not read: the application refuses it by its Content-Length
    deadline = time.monotonic() + BODY_DEADLINE_SECONDS
    try:
        while True:
            remaining = deadline - time.monotonic()
            try:
                message = await asyncio.wait_for(receive(), timeout=min(BODY_IDLE_SECONDS, max(remaining, 0)))
            except TimeoutError:
                raise BodyStalled(
                    f"the request body did not arrive: at most {BODY_IDLE_SECONDS:.0f} s between two pieces of it"
                    f" and {BODY_DEADLINE_SECONDS:.0f} s in all"
                ) from None
            if message["type"] == "http.disconnect":
                body.close()
                return None
            body.write(message.get("body", b""))
            if body.tell() > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:  # chunked, without a length to check first
                body.seek(0)
                body.truncate()
                return body
            if not message.get("more_body"):
                body.seek(0)
                return body
    except BaseException:
        body.close()
        raise


def _declared_length(scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


def _environ(scope, body) -> dict:
    server = scope.get("server") or ("localhost", 80)
    client = scope.get("client") or ("", 0)
    environ = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": scope.get("root_path", "").encode().decode("latin-1"),
        "PATH_INFO": scope["path"].encode().decode("latin-1"),
        "QUERY_STRING": scope["query_string"].decode("latin-1"),
        "SERVER_PROTOCOL": f"HTTP/{scope['http_version']}",
        "SERVER_NAME": server[0],
        "SERVER_PORT": str(server[1]),
        "REMOTE_ADDR": client[0],
        "REMOTE_PORT": str(client[1]),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": body,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    for name, value in scope["headers"]:
        key = name.decode("latin-1").upper().replace("-", "_")
        key = key if key in ("CONTENT_LENGTH", "CONTENT_TYPE") else "HTTP_" + key
        text = value.decode("latin-1")
        environ[key] = f"{environ[key]},{text}" if key in environ else text
    return environ


def _stalled_answer(scope, detail: str) -> tuple[int, list, bytes]:
    if scope["path"].startswith("/api/"):
        response = render_error(RequestRefused(408, detail))
        headers = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in response.items()]
        return 408, headers + [(b"connection", b"close")], response.content
    return 408, [(b"content-type", b"text/plain; charset=utf-8"), (b"connection", b"close")], detail.encode()


async def _send_whole(send, status: int, headers: list, content: bytes) -> None:
    if not any(name == b"content-length" for name, _ in headers):
        headers = [*headers, (b"content-length", str(len(content)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": content})


async def _lifespan(receive, send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def buffered_site(threads: int = 1) -> BufferedWsgi:
    """The application of one worker process: ``threads`` threads run requests (gunicorn's ``--threads``)."""
    return BufferedWsgi(wsgi_application, threads=threads)
