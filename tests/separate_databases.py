"""Throwaway databases for tests whose subprocesses (the CLI, gunicorn) need a committed database of their own."""

import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import quote

from django.conf import settings


def postgres_database(prefix: str):
    """A fresh, uniquely named database on the test session's PostgreSQL server: ``(url, drop)``."""
    import psycopg

    db = settings.DATABASES["default"]
    server = {
        "host": db["HOST"] or "127.0.0.1",
        "port": db["PORT"] or 5432,
        "user": db["USER"],
        "password": db["PASSWORD"] or None,
    }
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(dbname="postgres", autocommit=True, **server) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        # A throwaway database need not wait for the disk on each commit; locking is unaffected.
        admin.execute(f'ALTER DATABASE "{name}" SET synchronous_commit TO off')
    credentials = quote(server["user"], safe="") + (
        f":{quote(server['password'], safe='')}" if server["password"] else ""
    )
    url = f"postgres://{credentials}@{quote(str(server['host']), safe='')}:{server['port']}/{name}"

    def drop():
        with psycopg.connect(dbname="postgres", autocommit=True, **server) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return url, drop


REPO = Path(__file__).resolve().parents[1]


def run_command(command: list[str], env: dict, timeout: int = 300) -> str:
    """Run ``command`` in the repository with ``env``; its stdout, or a failed assertion with its output."""
    done = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{command[:3]} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def run_python(script: str, env: dict, *args: str) -> str:
    """Run a Python ``script`` (``python -c``) as ``run_command`` does."""
    return run_command([sys.executable, "-c", script, *args], env)
