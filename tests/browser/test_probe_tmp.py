import pytest
from tests.browser.conftest import log_in

pytestmark = pytest.mark.browser

def test_probe(person, platform, pupil, provider):
    page = person.page
    resp = page.goto(platform.authorize_url())
    print("landed", resp.status, page.url, page.locator("html").get_attribute("lang"))
    log_in(page, pupil)
    cb = person.wait_for_callback()
    print("cb", cb)
    r = page.goto(provider.issuer + "/logout")
    print("logout", r.status, page.locator("h1").inner_text())
    page.get_by_role("button", name="Ja, meld me af").click()
    page.wait_for_load_state()
    print("after", page.url, page.locator("h1").inner_text())
