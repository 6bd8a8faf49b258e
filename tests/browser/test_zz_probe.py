import pytest
from tests.browser.conftest import log_in
pytestmark = pytest.mark.browser
def test_probe(person, platform, pupil, provider):
    page = person.page
    page.on("request", lambda r: print("REQ", r.method, r.url[:90], r.is_navigation_request()))
    page.on("response", lambda r: print("RESP", r.status, r.url[:90]))
    page.on("requestfailed", lambda r: print("FAIL", r.url[:90], r.failure))
    page.goto(platform.authorize_url())
    log_in(page, pupil)
    person.wait_for_callback()
    print("----- second")
    try:
        page.goto(platform.authorize_url())
    except Exception as e:
        print("ERR", str(e)[:200])
    print(person.callbacks)
