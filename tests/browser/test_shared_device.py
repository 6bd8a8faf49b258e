"""A shared classroom device in headless Chromium: pupil A logs in at both demo platforms (examples/), logs out at
one; pupil B sits down at the same browser and finds nothing of A: not at either platform, not at leerID, not in
the browser's history; B logs in and sees B. axe-core on leerID's pages on the way (the platforms are the demo's).

The platforms are the real demo platform app (examples.serve), registered with their back-channel logout URI as
the demo registers them (tests.protocol.test_demo_logout.demo_platforms).
"""
from __future__ import annotations

import secrets
import time
from datetime import date

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect

from tests.browser.conftest import assert_accessible, log_in
from tests.protocol.test_demo_logout import demo_platforms

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def platforms(provider, school, tmp_path_factory):
    with demo_platforms(provider, school, tmp_path_factory.mktemp("shared-device")) as started:
        yield {slug: platform for slug, (platform, _) in started.items()}


def pupil(provider, school: str, given: str, family: str) -> dict:
    """A pupil of fifteen with a name of their own (provider.user names everyone Lotte Peeters)."""
    username = f"{given.lower()}.{secrets.token_hex(3)}"
    password = f"Pw-{secrets.token_urlsafe(10)}"
    birthdate = date(date.today().year - 15, 1, 15).isoformat()
    provider.cli("users", "create", "--username", username, "--password", password, "--given-name", given,
                 "--family-name", family, "--role", "pupil", "--school", school, "--birthdate", birthdate)
    return {"username": username, "password": password, "name": f"{given} {family}", "given": given,
            "family": family, "role": "pupil"}


def traces_of(page, person: dict, extra: tuple[str, ...] = ()) -> list[str]:
    """What of `person` the page shows: their name, username (also in a form field) or platform ids."""
    try:
        shown = page.locator("body").inner_text(timeout=5_000)
        values = page.eval_on_selector_all("input, textarea", "els => els.map(e => e.value)")
    except PlaywrightError:  # an error page of Chromium's own shows nothing of anyone
        return []
    words = (person["given"], person["family"], person["username"], *extra)
    return [w for w in words if w and (w.lower() in shown.lower() or any(w.lower() in v.lower() for v in values))]


def assert_nothing_of(page, person: dict, where: str, extra: tuple[str, ...] = ()) -> None:
    found = traces_of(page, person, extra)
    assert not found, f"{where} ({page.url}) shows {found} of the previous pupil"


def at_leerid(page, provider) -> bool:
    return page.url.startswith(provider.issuer + "/")


def test_the_next_pupil_finds_nothing_of_the_previous_one(provider, school, platforms, person):
    portal, rekenrups = platforms["schoolportaal"], platforms["rekenrups"]
    a, b = pupil(provider, school, "Ayla", "Aerts"), pupil(provider, school, "Bram", "Bosmans")
    page = person.page

    # Pupil A: logs in at Rekenrups, then opens the school portal (single sign-on) and logs out there.
    page.goto(f"{rekenrups.url}/login")
    page.wait_for_url(f"{provider.issuer}/interaction/**")
    assert_accessible(page, "leerID login page")
    log_in(page, a)
    page.wait_for_url(f"{rekenrups.url}/")
    expect(page.locator("#person-name")).to_have_text(a["name"])
    a_sub = page.locator("#claim-sub").inner_text().strip()
    page.goto(f"{portal.url}/login")
    page.wait_for_url(f"{portal.url}/")
    expect(page.locator("#person-name")).to_have_text(a["name"])
    page.get_by_role("button", name="Afmelden").click()
    page.wait_for_url(lambda url: url.startswith((f"{portal.url}/?", f"{provider.issuer}/logout")))
    if at_leerid(page, provider):  # leerID shows a page of its own (asks, or tells what it logged out)
        assert_accessible(page, "leerID logout page")
        confirm = page.locator("button[name=logout][value=yes]")
        if confirm.count():
            confirm.click()
            assert_accessible(page, "leerID logout page after confirming")
    else:
        expect(page.get_by_role("status")).to_contain_text("Je bent afgemeld")
    # A walks away. leerID tells Rekenrups by back-channel within seconds; wait for that without showing a page.
    deadline = time.monotonic() + 30
    while a["name"] in person.context.request.get(f"{rekenrups.url}/").text() and time.monotonic() < deadline:
        time.sleep(0.25)

    # Pupil B sits down at the same browser: both platforms, leerID's own pages, and the history show nothing of A.
    for url, what in ((f"{rekenrups.url}/", "Rekenrups"), (f"{portal.url}/", "the school portal"),
                      (f"{provider.issuer}/mijn", "Mijn leerID"), (f"{portal.url}/login", "a login via the portal")):
        page.goto(url)
        assert_nothing_of(page, a, what, (a_sub,))
        if at_leerid(page, provider):
            expect(page.locator("input[name=username]")).to_have_value("")
            assert_accessible(page, f"leerID page reached from {what}")
    for step in range(1, 9):  # the Back button, page after page (a page Chromium kept in memory included)
        before = page.url
        try:
            page.go_back(wait_until="load")
        except PlaywrightError:  # a navigation Chromium could not finish shows nothing of anyone
            continue
        if page.url == before:  # the start of the history
            break
        assert_nothing_of(page, a, f"the page {step} back in the history", (a_sub,))

    # B logs in and sees B, at both platforms.
    page.goto(f"{rekenrups.url}/login")
    page.wait_for_url(f"{provider.issuer}/interaction/**")
    log_in(page, b)
    page.wait_for_url(f"{rekenrups.url}/")
    expect(page.locator("#person-name")).to_have_text(b["name"])
    assert_nothing_of(page, a, "Rekenrups after B logged in", (a_sub,))
    page.goto(f"{portal.url}/login")
    page.wait_for_url(f"{portal.url}/")
    expect(page.locator("#person-name")).to_have_text(b["name"])
    assert_nothing_of(page, a, "the school portal after B logged in", (a_sub,))
