"""What ``arrears web`` and ``arrears serve`` run: the WSGI site (arrears.wsgi) behind gunicorn's asyncio worker,
which reads each request whole before a thread runs it (arrears.core.buffered_wsgi)."""

from arrears.core.buffered_wsgi import BufferedWsgi
from arrears.wsgi import application as wsgi_application


def buffered_site(threads: int = 1) -> BufferedWsgi:
    """The application of one worker process: ``threads`` threads run requests (gunicorn's ``--threads``)."""
    return BufferedWsgi(wsgi_application, threads=threads)
