"""The real-browser infrastructure (tests/browser.py) works end to end, and its console collector can fail."""

import time

import pytest

from tests.browser import (
    assert_clean_console,
    assert_no_serious_axe_violations,
    browser,
    live_arrears,
    new_page,
    screenshot,
    screenshot_both,
)


@pytest.mark.slow
def test_a_live_arrears_with_the_demo_answers_chromium_and_the_collectors_catch_problems(tmp_path):
    started = time.monotonic()
    with live_arrears(tmp_path) as site, browser() as chromium:
        print(f"demo built and served in {time.monotonic() - started:.1f} s")
        # The demo ran: its logins came back parsed
        assert {"operator@arrears.demo", "reseller@arrears.demo"} <= {e["email"] for e in site.logins["logins"]}
        assert site.login("operator@arrears.demo")["panel"] == "operator"

        # /healthz through the browser
        page = new_page(chromium, site.base_url)
        response = page.goto("/healthz")
        assert response.status == 200
        assert response.json()["status"] == "ok"
        assert_clean_console(page)

        # Screenshots land under the test data directory, non-empty PNGs
        shot = screenshot(page, "browser-infrastructure-healthz")
        assert shot.name == "browser-infrastructure-healthz-1280.png"
        wide, narrow = screenshot_both(page, "browser-infrastructure-healthz")
        for path in (shot, wide, narrow):
            assert path.stat().st_size > 0 and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert narrow.name.endswith("-390.png") and page.viewport_size["width"] == 1280

        page.context.close()

        # On pages of their own (about:blank, outside the site's Content Security Policy):
        # axe runs, and a clean page passes
        page = new_page(chromium, site.base_url)
        page.set_content(
            '<!doctype html><html lang="en"><head><title>Clean</title></head>'
            "<body><main><h1>Clean</h1></main></body></html>"
        )
        assert_no_serious_axe_violations(page)
        assert_clean_console(page)

        # A failing inline script is caught, so the collector can fail a test
        page.set_content(
            '<!doctype html><html lang="en"><head><title>Broken</title></head><body>'
            '<script>console.error("deliberate console error"); undefinedFunction();</script>'
            "</body></html>"
        )
        with pytest.raises(AssertionError) as caught:
            assert_clean_console(page)
        assert "deliberate console error" in str(caught.value)
        assert "undefinedFunction" in str(caught.value)

        # So is a script the page's Content Security Policy blocks
        page.console_errors.clear()
        page.set_content(
            '<!doctype html><html lang="en"><head><title>Blocked</title>'
            '<meta http-equiv="Content-Security-Policy" content="script-src \'none\'"></head>'
            '<body><script>document.title = "ran";</script></body></html>'
        )
        assert page.title() == "Blocked"
        with pytest.raises(AssertionError, match="Content Security Policy"):
            assert_clean_console(page)

        # And axe can fail too: an image without alternative text is a critical violation
        page.set_content(
            '<!doctype html><html lang="en"><head><title>Image</title></head>'
            '<body><main><img src="data:image/gif;base64,R0lGODlhAQABAAAAACw="></main></body></html>'
        )
        with pytest.raises(AssertionError, match="image-alt"):
            assert_no_serious_axe_violations(page)
        page.context.close()
