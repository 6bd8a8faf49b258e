"""The logout page in headless Chromium (issue 7, item 2): a pupil logged in at two platforms logs out; the page lists
both, loads the front-channel platform's iframe (a local page records the hit, with iss and sid), shows each platform
logged out once leerID's worker told it by back-channel, and, for an RP-initiated logout, goes on to the post-logout
redirect URI only after the iframe loaded. A platform reached by its iframe alone (registered before leerID asked a
back-channel URI of every front-channel platform) is "gevraagd", never "afgemeld": a loaded iframe proves nothing. And "Ben jij dit niet? Wissel van leerling" on the login page.
axe-core on every page, in Dutch and in English.
"""
from __future__ import annotations

import re
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet
from playwright.sync_api import expect
from sqlalchemy import create_engine, text

from tests.browser.conftest import BIRTHDATE_15, Platform, assert_accessible, log_in
from tests.local_http import Documents

pytestmark = pytest.mark.browser
PAGE = b'<!doctype html><html lang="nl"><head><meta charset="utf-8"><title>Platform</title></head><body></body></html>'


class LocalPlatform:
    """A platform on 127.0.0.1 whose pages (callback, front-channel logout, signed out) are blank; every GET is
    recorded, in order, as its path with the query."""

    def __init__(self):
        self.hits: list[str] = []
        recorded = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                recorded.hits.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(PAGE)))
                self.end_headers()
                self.wfile.write(PAGE)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def visits(self, path: str) -> list[dict[str, list[str]]]:
        """The query of each visit to `path`."""
        return [parse_qs(urlsplit(hit).query) for hit in self.hits if urlsplit(hit).path == path]


def two_platforms(provider, local: LocalPlatform, receiver: Documents) -> tuple[Platform, Platform, str]:
    """A platform on `local` with a front-channel logout URI (iss and sid asked for), a post-logout URI and a
    back-channel logout URI on `receiver`, and one with a back-channel logout URI on `receiver` alone; the latter's
    path there. Each has its `name`."""
    framed = provider.client("--frontchannel-logout-uri", f"{local.base}/fc", "--frontchannel-logout-session-required",
                             "--post-logout-redirect-uri", f"{local.base}/afgemeld",
                             "--backchannel-logout-uri", receiver.receiver(f"/logout/{secrets.token_hex(6)}"),
                             redirect_uri=f"{local.base}/callback")
    path = f"/logout/{secrets.token_hex(6)}"
    told = provider.client("--backchannel-logout-uri", receiver.receiver(path))
    platforms = []
    for made in (framed, told):
        platforms.append(Platform(provider.issuer, made["client_id"], made.get("client_secret"), made["redirect_uri"]))
        platforms[-1].name = made["name"]
    return platforms[0], platforms[1], path


def log_in_at_both(opened, pupil: dict, framed: Platform, told: Platform, local: LocalPlatform) -> str:
    """Log in at the framed platform, then open the other (single sign-on); the framed platform's code."""
    page = opened.page
    page.goto(framed.authorize_url())
    log_in(page, pupil)
    page.wait_for_url(re.compile(re.escape(f"{local.base}/callback") + r"\?"))
    code = local.visits("/callback")[-1]["code"][0]
    opened.visit(told.authorize_url())
    assert "code" in opened.wait_for_callback().query, "single sign-on at the second platform"
    return code


def item(page, name: str):
    return page.locator("li[data-platform]", has_text=name)


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_the_logout_page_lists_both_platforms_and_tells_them(request, provider, school, lang):
    opened = request.getfixturevalue("person" if lang == "nl" else "english_person")
    page = opened.page
    pupil = provider.user("pupil", school, birthdate=BIRTHDATE_15)
    with LocalPlatform() as local, Documents() as receiver:
        framed, told, path = two_platforms(provider, local, receiver)
        log_in_at_both(opened, pupil, framed, told, local)
        page.goto(f"{provider.issuer}/logout")
        expect(page.locator("button[name=logout][value=yes]")).to_be_visible()
        assert page.locator("html").get_attribute("lang") == lang
        assert_accessible(page, f"logout confirmation ({lang})")
        page.locator("button[name=logout][value=yes]").click()

        expect(page.locator("li[data-platform]")).to_have_count(2)
        names = sorted(page.locator("li[data-platform] strong").all_inner_texts())
        assert names == sorted([framed.name, told.name])
        expect(item(page, told.name)).to_have_attribute("data-state", "done")  # the worker told it, the page heard
        expect(item(page, framed.name)).to_have_attribute("data-state", "done")  # by back-channel, its iframe too
        [visit] = local.visits("/fc")
        assert visit["iss"] == [provider.issuer] and visit["sid"][0], "the iframe loaded, with iss and sid"
        assert len(receiver.wait_for_posts(path)) == 1
        assert_accessible(page, f"logout page with two platforms ({lang})")


def test_a_platform_told_by_its_iframe_alone_is_asked_not_logged_out(person, provider, school):
    """Security review of issue 7, finding 5: the iframe's load fires on any answer, and a platform's SameSite=Lax
    cookie is not even sent in it, so the page only says that leerID asked."""
    page = person.page
    pupil = provider.user("pupil", school, birthdate=BIRTHDATE_15)
    with LocalPlatform() as local, Documents() as receiver:
        framed, told, _ = two_platforms(provider, local, receiver)
        engine = create_engine(provider.env["LEERID_DATABASE_URL"])  # as registered before the back-channel rule
        try:
            with engine.begin() as conn:
                conn.execute(text("UPDATE clients SET backchannel_logout_uri = NULL WHERE client_id = :c"),
                             {"c": framed.client_id})
        finally:
            engine.dispose()
        log_in_at_both(person, pupil, framed, told, local)
        page.goto(f"{provider.issuer}/logout")
        page.locator("button[name=logout][value=yes]").click()
        expect(item(page, told.name)).to_have_attribute("data-state", "done")
        expect(item(page, framed.name)).to_have_attribute("data-state", "asked")
        expect(item(page, framed.name)).to_contain_text("gevraagd")
        assert local.visits("/fc"), "its iframe loaded"
        assert_accessible(page, "logout page with a platform told by its iframe alone")


def test_rp_initiated_logout_goes_on_after_the_iframe_loaded(person, provider, school):
    page = person.page
    pupil = provider.user("pupil", school, birthdate=BIRTHDATE_15)
    with LocalPlatform() as local, Documents() as receiver:
        framed, told, _ = two_platforms(provider, local, receiver)
        code = log_in_at_both(person, pupil, framed, told, local)
        id_token = redeem(provider, framed, code)
        query = urlencode({"id_token_hint": id_token, "post_logout_redirect_uri": f"{local.base}/afgemeld",
                           "state": "tot-straks"})
        page.goto(f"{provider.issuer}/logout?{query}")
        page.wait_for_url(f"{local.base}/afgemeld?state=tot-straks")
        keys = KeySet.import_key_set(httpx.get(f"{provider.issuer}/jwks").json())
        sid = jwt.decode(id_token, keys, algorithms=["ES256"]).claims["sid"]
        paths = [urlsplit(hit).path for hit in local.hits]
        assert paths.index("/fc") < paths.index("/afgemeld"), "the iframe loaded before the page went on"
        assert local.visits("/fc") == [{"iss": [provider.issuer], "sid": [sid]}]


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_switch_pupil_on_the_login_page(request, provider, school, platform, lang):
    opened = request.getfixturevalue("person" if lang == "nl" else "english_person")
    page = opened.page
    pupil = provider.user("pupil", school, birthdate=BIRTHDATE_15, given_name="Amira")
    page.goto(platform.authorize_url())
    log_in(page, pupil)
    opened.wait_for_callback()
    page.goto(platform.authorize_url(prompt="login"))
    switch = page.locator("form[action$='/wissel']")
    expect(switch).to_contain_text("Amira")
    assert_accessible(page, f"login page with the switch link ({lang})")
    switch.locator("button").click()
    expect(page.get_by_role("status")).to_be_visible()
    expect(page.locator("input[name=username]")).to_have_value("")
    assert "Amira" not in page.content() and pupil["username"] not in page.content()
    assert page.locator("form[action$='/wissel']").count() == 0
    assert_accessible(page, f"login page after switching ({lang})")


def redeem(provider, platform: Platform, code: str) -> str:
    response = httpx.post(f"{provider.issuer}/token", auth=(platform.client_id, platform.client_secret), data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": platform.redirect_uri,
        "code_verifier": platform.verifier}, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()["id_token"]
