"""Real-browser tests: a real ``arrears serve`` with the demo, Debian's Chromium, screenshots, console and axe checks.

    with live_arrears(tmp_path) as site, browser() as chromium:
        page = new_page(chromium, site.base_url)
        page.goto("/operator/login/")
        screenshot_both(page, "operator-login")
        assert_no_serious_axe_violations(page)
        assert_clean_console(page)

``live_arrears`` builds an installation of its own (a fresh database of the test session's kind, SQLite or
PostgreSQL, via :func:`tests.e2e.live_server.separate_database`), optionally fills it with ``arrears demo`` and
runs the whole product with ``arrears serve`` in its own process group. Playwright cannot download browsers
here, so :func:`browser` always launches ``/usr/bin/chromium``.
"""

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
from django.db import connection
from playwright.sync_api import Browser, ConsoleMessage, Page, Request, sync_playwright

from tests.e2e.live_server import BIN, REPO, arrears, python, separate_database
from tests.loopback import free_port

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-dev-shm-usage"]
STARTUP_TIMEOUT = 60
SHUTDOWN_TIMEOUT = 40  # serve itself gives its children 30 s
PORT_ATTEMPTS = 3
WIDE, NARROW = 1280, 390
HEIGHT = 900
SERIOUS = ("serious", "critical")


def screenshot_dir() -> Path:
    return Path(os.environ.get("ARREARS_DATA_DIR", REPO / "var/test")) / "screenshots"


# --- the server -----------------------------------------------------------------------------------------


@dataclass
class LiveArrears:
    base_url: str
    env: dict  # for tests.e2e.live_server.arrears(env, ...) / python(env, ...) against the same database
    data_dir: Path
    logins: dict | None  # the parsed JSON `arrears demo` printed (its "logins" key lists the logins), or None
    log_path: Path
    process: subprocess.Popen = field(repr=False)

    def login(self, email: str) -> dict:
        """The demo's login entry (panel, role, email, password, ...) for ``email``."""
        assert self.logins is not None, "live_arrears(demo=False) has no demo logins"
        for entry in self.logins["logins"]:
            if entry["email"] == email:
                return entry
        raise KeyError(email)

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]


def query(site: LiveArrears, script: str) -> object:
    """Run ``script`` (which sets ``result``) against the site's database in a process of its own; returns
    ``result`` as JSON data. What a test checks "in the database" it reads this way, beside the page."""
    prelude = "import django, json; django.setup()\n"
    return json.loads(
        python(site.env, prelude + script + "\nprint(json.dumps(result, default=str))").strip().splitlines()[-1]
    )


@contextlib.contextmanager
def live_arrears(
    tmp_path: Path, *, demo: bool = True, demo_today: str | None = None, schedule: bool = True
) -> Iterator[LiveArrears]:
    """A real installation in ``tmp_path``: migrated, with the demo if ``demo`` (its history up to ``demo_today``,
    YYYY-MM-DD, when given), served by ``arrears serve`` (with ``--no-schedule`` unless ``schedule``: then billing
    runs only when asked, e.g. by the panel's Run billing now)."""
    with separate_database(tmp_path) as env:
        env = {**env, "ARREARS_API_THROTTLE": "off", "ARREARS_STATIC_ROOT": str(tmp_path / "static")}
        logins = json.loads(arrears(env, "demo", *(["--today", demo_today] if demo_today else []))) if demo else None
        log_path = tmp_path / "serve.log"
        for attempt in range(PORT_ATTEMPTS):
            port = free_port()
            with log_path.open("wb") as log:
                # Its own process group: the test's signals do not reach it, and we stop it as one.
                process = subprocess.Popen(
                    [
                        str(BIN / "arrears"),
                        "serve",
                        "--port",
                        str(port),
                        "--host",
                        "127.0.0.1",
                        "--workers",
                        "2",
                        "--queue-workers",
                        "1",
                        *([] if schedule else ["--no-schedule"]),
                    ],
                    env=env,
                    cwd=REPO,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            site = LiveArrears(f"http://127.0.0.1:{port}", env, tmp_path, logins, log_path, process)
            try:
                if _wait_until_healthy(site, last_attempt=attempt == PORT_ATTEMPTS - 1):
                    break
            except BaseException:
                _stop(process)
                raise
            _stop(process)  # another process took the port between free_port() and gunicorn's bind
        try:
            yield site
        finally:
            _stop(process)


def _wait_until_healthy(site: LiveArrears, *, last_attempt: bool) -> bool:
    """True once /healthz answers; False if the port was taken (to retry on another one)."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if site.process.poll() is not None:
            if "Address already in use" in site.log_tail() and not last_attempt:
                return False
            raise AssertionError(f"arrears serve exited with {site.process.returncode}:\n{site.log_tail()}")
        try:
            response = httpx.get(f"{site.base_url}/healthz", timeout=2)
            if response.status_code == 200:
                body = response.json()
                assert body == {"status": "ok", "database": connection.vendor}, body
                return True
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{site.base_url}/healthz did not answer within {STARTUP_TIMEOUT} s:\n{site.log_tail()}")


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM to serve's group (it stops gunicorn and huey gracefully), SIGKILL after the timeout, then
    kill whatever of its descendants is still around (they run in sessions of their own)."""
    try:
        descendants = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        descendants = []
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=SHUTDOWN_TIMEOUT)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    _, alive = psutil.wait_procs(descendants, timeout=5)
    for leftover in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            leftover.kill()
    psutil.wait_procs(alive, timeout=5)


# --- the browser ----------------------------------------------------------------------------------------


@contextlib.contextmanager
def browser() -> Iterator[Browser]:
    """Headless Chromium from Debian's package (Playwright cannot download its own here)."""
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


# Reported in the console so the collector sees every violation, including report-only ones.
_REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  console.error(`Content Security Policy violation: ${event.violatedDirective} blocked ` +
                `${event.blockedURI || "inline"} (${event.sourceFile || ""}:${event.lineNumber || 0})`);
});
"""


def new_page(browser: Browser, base_url: str, *, width: int = WIDE) -> Page:
    """A page in a fresh context (relative ``goto`` against ``base_url``) collecting its problems in
    ``page.console_errors``: console errors, uncaught page errors, CSP violations and failed requests.
    Close it with ``page.context.close()`` (closing the browser closes it too)."""
    context = browser.new_context(base_url=base_url, viewport={"width": width, "height": HEIGHT})
    context.add_init_script(_REPORT_CSP_VIOLATIONS)
    page = context.new_page()
    problems: list[str] = []
    page.console_errors = problems

    def on_console(message: ConsoleMessage) -> None:
        location = message.location or {}
        if location.get("url", "").endswith("/favicon.ico") and "Failed to load resource" in message.text:
            return  # Chromium asks for /favicon.ico by itself on pages that link no icon (JSON, plain text)
        if message.type == "error" or "Content Security Policy" in message.text:
            problems.append(
                f"console {message.type}: {message.text} ({location.get('url', '')}:{location.get('lineNumber', '')})"
            )

    def on_request_failed(request: Request) -> None:
        # ERR_ABORTED is the browser cancelling a request itself: a navigation that turns into a download, or a
        # page's icon still loading when the page is left. A resource the server fails to give is not this: it
        # answers with an error status, which the console reports ("Failed to load resource").
        if "ERR_ABORTED" in (request.failure or ""):
            return
        problems.append(f"request failed: {request.method} {request.url}: {request.failure}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("requestfailed", on_request_failed)
    return page


def assert_clean_console(page: Page) -> None:
    problems = page.console_errors
    assert not problems, f"{len(problems)} browser problem(s) on {page.url}:\n" + "\n".join(problems)


# --- screenshots ----------------------------------------------------------------------------------------


def screenshot(page: Page, name: str) -> Path:
    """A full-page PNG at ``{ARREARS_DATA_DIR or var/test}/screenshots/{name}-{width}.png``; returns its path."""
    width = page.viewport_size["width"]
    path = screenshot_dir() / f"{name}-{width}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)
    return path


def screenshot_both(page: Page, name: str) -> list[Path]:
    """Screenshots at 1280 px and at 390 px wide (a phone); the viewport is restored afterwards."""
    before = dict(page.viewport_size)
    paths = []
    try:
        for width in (WIDE, NARROW):
            page.set_viewport_size({"width": width, "height": before["height"]})
            paths.append(screenshot(page, name))
    finally:
        page.set_viewport_size(before)
    return paths


# --- accessibility --------------------------------------------------------------------------------------


def assert_no_serious_axe_violations(page: Page) -> None:
    """axe-core on the current page: fail on every violation of impact "serious" or "critical"."""
    from axe_playwright_python.sync_playwright import Axe

    violations = Axe().run(page).response["violations"]
    serious = [violation for violation in violations if violation.get("impact") in SERIOUS]
    lines = []
    for violation in serious:
        lines.append(f"{violation['id']} ({violation['impact']}): {violation['help']}")
        for node in violation["nodes"]:
            lines.append(f"    {node['target']}")
    assert not serious, f"{len(serious)} serious axe violation(s) on {page.url}:\n" + "\n".join(lines)
