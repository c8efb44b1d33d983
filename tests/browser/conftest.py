"""Browser tests (issue 12): Playwright's sync API driving Debian's chromium
(``/usr/bin/chromium``, headless, ``--no-sandbox``; nothing is downloaded) against
pytest-django's ``live_server`` (a real threaded HTTP server in this process, static
files served) and, where a test needs rendering, real ``manage.py qcluster`` workers
(``qcluster_factory``, from tests/e2e).

Fixtures and helpers (for every role's browser tests):

* ``live_server`` (pytest-django) — ``live_server.url`` is the base URL. Browser tests
  need ``pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]``
  so that the server thread and the qcluster processes see the test's rows.
* ``qcluster_factory(**env) -> QCluster`` — start real workers (tests/e2e/conftest.py).
* ``browser`` (session) — the launched chromium ``Browser``.
* ``page_factory(*, phone=False, width=1280, height=900) -> Page`` — a fresh context (its
  own cookies: one per person) with ``base_url=live_server.url``, so ``page.goto("/verify/")``
  works; ``phone=True`` is a 375×812 touch viewport. Contexts close at the test's end.
* ``page`` — ``page_factory()`` (desktop); ``phone_page`` — ``page_factory(phone=True)``.
* ``sign_in(page, email, password=PASSWORD)`` — through the real sign-in form; when the
  site asks for the TOTP code (union people, staff: make it with tests/web/conftest.py
  ``give_totp``) it types the current code of that person's authenticator.
* ``sign_out(page)`` — the header's "Sign out" button.
* ``check_axe(page, *, impacts=("serious", "critical"))`` — axe-core on the current page;
  fails listing each violation of those impacts (rule, help, the nodes' selectors).
* ``screenshot(page, name) -> Path`` — full-page PNG at ``docs/screenshots/<name>.png``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.e2e.conftest import qcluster_factory  # noqa: F401  (fixture, re-exported for browser tests)
from tests.web.conftest import PASSWORD, give_totp, make_person  # noqa: F401  (helpers, re-exported)

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("DOPPEL_CHROMIUM", "/usr/bin/chromium"))
SCREENSHOTS = ROOT / "docs" / "screenshots"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 375, "height": 812}



@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    # No silent skip: scripts/test.sh installs Debian's chromium (DOPPEL_SETUP_BROWSER=1).
    assert CHROMIUM.exists(), f"Debian's chromium is missing at {CHROMIUM}: apt-get install chromium"
    # Playwright's sync API keeps an event loop in this thread while the browser lives; Django
    # then refuses ORM calls from the test body ("cannot call this from an async context")
    # unless told that this is deliberate — only while the browser is up: the fixture is
    # package-scoped, so both end with tests/browser (a Playwright left running, or the
    # variable left set, would break the browser test and `check --deploy` of tests/test_deploy.py).
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()
            if previous is None:
                os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
            else:
                os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page_factory(browser, live_server) -> Iterator[Callable[..., Page]]:
    contexts = []

    def make(*, phone: bool = False, width: int | None = None, height: int | None = None) -> Page:
        size = dict(PHONE if phone else DESKTOP)
        size.update({k: v for k, v in (("width", width), ("height", height)) if v})
        context = browser.new_context(base_url=live_server.url, viewport=size, is_mobile=phone, has_touch=phone,
                                      device_scale_factor=2 if phone else 1, timezone_id="Europe/Paris",
                                      locale="en-GB")
        context.set_default_timeout(30_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def page(page_factory) -> Page:
    return page_factory()


@pytest.fixture
def phone_page(page_factory) -> Page:
    return page_factory(phone=True)


def current_totp_code(email: str) -> str:
    """The code an authenticator app shows now for ``email``'s TOTP (allauth's own HOTP)."""
    from allauth.mfa.models import Authenticator
    from allauth.mfa.totp.internal.auth import (
        format_hotp_value,
        hotp_value,
        yield_hotp_counters_from_time,
    )
    from allauth.mfa.utils import decrypt

    authenticator = Authenticator.objects.get(user__email__iexact=email, type=Authenticator.Type.TOTP)
    secret = decrypt(authenticator.data["secret"])
    counters = list(yield_hotp_counters_from_time())
    return format_hotp_value(hotp_value(secret, counters[len(counters) // 2]))


def sign_in(page: Page, email: str, password: str = PASSWORD) -> None:
    """Sign in through the real form (and the TOTP step when asked); ends on a signed-in page.
    Note: allauth accepts each TOTP code once — a second sign-in of the same person within
    the same 30-s period is refused."""
    page.goto("/accounts/login/")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    if "/2fa/authenticate" in page.url:
        page.locator("input[name=code]").fill(current_totp_code(email))
        page.locator("form button[type=submit]").first.click()
        page.wait_for_load_state()
    assert "/accounts/login" not in page.url and "/2fa/authenticate" not in page.url, (
        f"sign-in of {email} failed at {page.url}: {page.locator('main').inner_text()[:500]}")
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def sign_out(page: Page) -> None:
    """The header's Sign out button (a POST form); ends on a page offering "Sign in"."""
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_load_state()
    if "/accounts/logout" in page.url:  # allauth's confirmation page, if it asks
        page.locator("main form button[type=submit]").click()
        page.wait_for_load_state()
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Sign in")).to_be_visible()


def check_axe(page: Page, *, impacts: tuple[str, ...] = ("serious", "critical")) -> list[dict]:
    """Run axe-core on the current page; fail on any violation of ``impacts``. Returns the
    minor/moderate violations (reported, not failed)."""
    response = Axe().run(page).response
    violations = response.get("violations", [])
    bad = [v for v in violations if v.get("impact") in impacts]
    if bad:
        lines = [f"{v['impact']}: {v['id']} — {v['help']} ({len(v['nodes'])} nodes: "
                 f"{[n['target'] for n in v['nodes'][:5]]})" for v in bad]
        raise AssertionError(f"axe-core on {page.url}:\n" + "\n".join(lines))
    return [v for v in violations if v.get("impact") not in impacts]


def screenshot(page: Page, name: str) -> Path:
    """A full-page PNG of ``page`` at docs/screenshots/<name>.png (committed; shown in the README)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
