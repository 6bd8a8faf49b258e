"""OpenID Connect Front-Channel Logout 1.0 against a live provider: registration (`leerid clients create|update
--frontchannel-logout-uri URI [--frontchannel-logout-session-required]`, checked like the other URIs and on the origin
of a redirect URI, §2, and only with a back-channel logout URI: leerID tells platforms by back-channel however a
session ends, the iframe is an addition), discovery (§3), and the logout page: an invisible iframe per platform of the session that
registered a front-channel URI, with iss and sid when it asked for them (§2-3), a Content-Security-Policy whose
frame-src lists exactly those platforms' origins on that page alone, and then the way on to the
post_logout_redirect_uri (a "Verder" link; idp/static/logout.js follows it once the iframes loaded).

The protocol browser loads no iframes and runs no scripts: this file reads the page. tests/browser/test_logout_page.py
has Chromium load them.

Clients of this file (each test registers its own, on an origin of its own):
  framed   -- confidential, --frontchannel-logout-uri --frontchannel-logout-session-required, a post-logout URI,
              --backchannel-logout-uri (BACKCHANNEL: nothing listens there)
  plain    -- confidential, --frontchannel-logout-uri with a query of its own, no session required, BACKCHANNEL
  silent   -- confidential, no front-channel logout URI
"""
from __future__ import annotations

import secrets
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from tests.protocol.helpers import (
    authorize_url,
    discovery,
    form_with_button,
    login_form,
    sign_in,
    verify_id_token,
)


class LogoutPage(HTMLParser):
    """What the logout page shows: its platforms (data-platform id -> name), iframes, "Verder" link, status address."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.platforms: dict[str, str] = {}
        self.frames: dict[str, str] = {}  # data-frame id -> src
        self.scripts: list[str] = []
        self.onward: str | None = None
        self.status: str | None = None
        self._item: str | None = None
        self._name: list[str] | None = None
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "li" and "data-platform" in attrs:
            self._item = attrs["data-platform"]
        elif tag == "strong" and self._item:
            self._name = []
        elif tag == "iframe":
            self.frames[attrs.get("data-frame", "")] = attrs.get("src", "")
        elif tag == "script" and attrs.get("src"):
            self.scripts.append(attrs["src"])
        elif tag == "a" and "data-continue" in attrs:
            self.onward = attrs.get("href")
        elif "data-logout" in attrs:
            self.status = attrs.get("data-status")

    def handle_data(self, data):
        if self._name is not None:
            self._name.append(data)

    def handle_endtag(self, tag):
        if tag == "strong" and self._name is not None:
            self.platforms[self._item] = "".join(self._name).strip()
            self._name = None
        elif tag == "li":
            self._item = None

    def frame_of(self, name: str) -> str | None:
        return next((self.frames.get(id_) for id_, shown in self.platforms.items() if shown == name), None)


def csp(response) -> dict[str, list[str]]:
    policy = response.headers.get("content-security-policy", "")
    return {parts[0]: parts[1:] for parts in (d.split() for d in policy.split(";") if d.strip())}


def origin_of(uri: str) -> str:
    parts = urlsplit(uri)
    return f"{parts.scheme}://{parts.netloc}"


BACKCHANNEL = "http://127.0.0.1:9/backchannel"  # a back-channel logout URI where nothing listens (refused at once)


def registered(provider, *args: str, post_logout: bool = False) -> dict:
    """A platform on an origin of its own: its client, with its `origin` and (when registered) `post_logout`; one
    with a front-channel logout URI has BACKCHANNEL too."""
    origin = f"https://rp-fc-{secrets.token_hex(4)}.example"
    extra = ("--post-logout-redirect-uri", f"{origin}/signed-out") if post_logout else ()
    if "--frontchannel-logout-uri" in args:
        extra += ("--backchannel-logout-uri", BACKCHANNEL)
    client = provider.client(*[a.format(origin=origin) for a in args], *extra, redirect_uri=f"{origin}/callback")
    return dict(client, origin=origin, post_logout=f"{origin}/signed-out")


def framed_and_plain(provider) -> tuple[dict, dict]:
    framed = registered(provider, "--frontchannel-logout-uri", "{origin}/logout/frontchannel",
                        "--frontchannel-logout-session-required", post_logout=True)
    plain = registered(provider, "--frontchannel-logout-uri", "{origin}/signout?from=leerid")
    return framed, plain


def logout(browser, provider, **params):
    return browser.http.get(f"{discovery(provider)['end_session_endpoint']}?{urlencode(params)}")


def session_is_alive(provider, browser, client) -> bool:
    return "code" in browser.authorize(authorize_url(provider, client, prompt="none")).params


# --- registration and discovery ---------------------------------------------------------------------------------


def test_discovery_advertises_front_and_back_channel_logout_with_sessions(provider):
    meta = discovery(provider)
    assert meta["frontchannel_logout_supported"] is True
    assert meta["frontchannel_logout_session_supported"] is True
    assert meta["backchannel_logout_supported"] is True
    assert meta["backchannel_logout_session_supported"] is True
    assert "check_session_iframe" not in meta, "OIDC Session Management is not offered (README)"


def test_registration_keeps_the_front_channel_settings(provider):
    framed, plain = framed_and_plain(provider)
    assert framed["frontchannel_logout_uri"] == f"{framed['origin']}/logout/frontchannel"
    assert framed["frontchannel_logout_session_required"] is True
    assert plain["frontchannel_logout_uri"] == f"{plain['origin']}/signout?from=leerid"
    assert plain["frontchannel_logout_session_required"] is False
    silent = provider.client()
    assert silent["frontchannel_logout_uri"] is None and silent["frontchannel_logout_session_required"] is False


def test_a_front_channel_uri_needs_a_back_channel_uri_and_nothing_is_written(provider):
    """Security review of issue 7, finding 6: an iframe-only platform would never hear of a switch of pupil, another
    person logging in over the session, or a time-out."""
    client, framed = registered(provider), registered(provider, "--frontchannel-logout-uri", "{origin}/fc")
    before = provider.audit_records()
    refused = provider.run("clients", "create", "--name", "Weigeraar", "--redirect-uri",
                           "https://rp-fc.example/callback", "--frontchannel-logout-uri", "https://rp-fc.example/fc",
                           "--json", check=False)
    assert refused.returncode != 0 and refused.stdout == ""
    assert "back-channel logout URI" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
    refused = provider.run("clients", "update", client["client_id"], "--frontchannel-logout-uri",
                           f"{client['origin']}/fc", "--require-mfa", check=False)
    assert refused.returncode != 0 and "back-channel logout URI" in refused.stderr
    refused = provider.run("clients", "update", framed["client_id"], "--backchannel-logout-uri", "", check=False)
    assert refused.returncode != 0 and "back-channel logout URI" in refused.stderr
    assert provider.audit_records() == before, "nothing written"


def test_update_changes_and_removes_the_front_channel_uri(provider):
    client = registered(provider)
    uri = f"{client['origin']}/fc"
    changed = provider.cli("clients", "update", client["client_id"], "--frontchannel-logout-uri", uri,
                           "--frontchannel-logout-session-required", "--backchannel-logout-uri", BACKCHANNEL)
    assert (changed["frontchannel_logout_uri"], changed["frontchannel_logout_session_required"]) == (uri, True)
    assert changed["backchannel_logout_uri"] == BACKCHANNEL
    changed = provider.cli("clients", "update", client["client_id"], "--no-frontchannel-logout-session-required")
    assert (changed["frontchannel_logout_uri"], changed["frontchannel_logout_session_required"]) == (uri, False)
    removed = provider.cli("clients", "update", client["client_id"], "--frontchannel-logout-uri", "")
    assert removed["frontchannel_logout_uri"] is None
    assert removed["require_mfa"] is False, "the other settings stay"
    assert provider.cli("clients", "update", client["client_id"], "--backchannel-logout-uri", "")[
        "backchannel_logout_uri"] is None, "without the iframe, the back-channel URI may go too"


@pytest.mark.parametrize("uri", [
    "http://rp-fc.example/fc",  # http only on this machine
    "https://rp-fc.example/fc#top",  # no fragment
    "https://user:pw@rp-fc.example/fc",  # no credentials
    "https://elsewhere.example/fc",  # not the origin of a redirect URI
    "https://rp-fc.example:8443/fc",  # another port is another origin
    "fc",
], ids=["http", "fragment", "credentials", "other-host", "other-port", "relative"])
def test_bad_front_channel_uris_are_refused_and_nothing_is_written(provider, uri):
    before = provider.audit_records()
    args = ("clients", "create", "--name", "Weigeraar", "--redirect-uri", "https://rp-fc.example/callback",
            "--frontchannel-logout-uri", uri, "--json")
    refused = provider.run(*args, check=False)
    assert refused.returncode != 0 and refused.stdout == ""
    assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    assert provider.audit_records() == before, "nothing written"


def test_session_required_needs_a_front_channel_uri(provider):
    refused = provider.run("clients", "create", "--name", "Weigeraar", "--redirect-uri",
                           "https://rp-fc.example/callback", "--frontchannel-logout-session-required", check=False)
    assert refused.returncode != 0 and "frontchannel-logout-uri" in refused.stderr
    client = registered(provider)
    before = provider.audit_records()
    refused = provider.run("clients", "update", client["client_id"], "--frontchannel-logout-uri",
                           "https://elsewhere.example/fc", "--require-mfa", check=False)
    assert refused.returncode != 0
    assert provider.audit_records() == before, "a refused update changes nothing, --require-mfa neither"


# --- the logout page --------------------------------------------------------------------------------------------


def test_logout_page_frames_each_platform_with_iss_and_sid_then_goes_on(provider, browser, user):
    framed, plain = framed_and_plain(provider)
    silent = registered(provider)
    login = sign_in(provider, browser, framed, user)
    sign_in(provider, browser, plain, None)
    sign_in(provider, browser, silent, None)
    sid = verify_id_token(provider, login.id_token, framed["client_id"])["sid"]

    page = logout(browser, provider, id_token_hint=login.id_token, post_logout_redirect_uri=framed["post_logout"],
                  state="tot-straks")
    assert page.status_code == 200, "a page first, so that the iframes load: not yet the redirect"
    shown = LogoutPage(page.text)
    assert sorted(shown.platforms.values()) == sorted(c["name"] for c in (framed, plain, silent))
    with_session = urlsplit(shown.frame_of(framed["name"]))
    assert f"{with_session.scheme}://{with_session.netloc}{with_session.path}" == framed["frontchannel_logout_uri"]
    assert parse_qs(with_session.query) == {"iss": [provider.issuer], "sid": [sid]}, "§2: iss and sid"
    assert shown.frame_of(plain["name"]) == plain["frontchannel_logout_uri"], "no iss or sid it did not ask for"
    assert shown.frame_of(silent["name"]) is None and len(shown.frames) == 2
    assert shown.onward == f"{framed['post_logout']}?state=tot-straks", "a visible way on, with the RP's state"
    assert any(src.endswith("/logout.js") for src in shown.scripts)
    assert not session_is_alive(provider, browser, framed), "the session ended before the page was shown"


def test_only_the_logout_page_may_frame_exactly_those_platforms(provider, browser, user):
    framed, plain = framed_and_plain(provider)
    login = sign_in(provider, browser, framed, user)
    sign_in(provider, browser, plain, None)
    sign_in(provider, browser, registered(provider), None)
    page = logout(browser, provider, id_token_hint=login.id_token)
    policy = csp(page)
    assert sorted(policy["frame-src"]) == sorted([framed["origin"], plain["origin"]])
    assert policy["frame-ancestors"] == ["'none'"] and policy["script-src"] == ["'self'"], "the rest stays strict"
    elsewhere = browser.get(authorize_url(provider, framed))
    assert login_form(elsewhere) is not None
    assert "frame-src" not in csp(elsewhere), "no other page frames a platform"
    assert framed["origin"] not in elsewhere.headers["content-security-policy"]


def test_confirmed_logout_without_a_hint_frames_the_platforms_too(provider, browser, user):
    """As from Mijn leerID's "Afmelden" (a POST with logout=yes): the page has the iframes, and stays."""
    framed, _ = framed_and_plain(provider)
    sign_in(provider, browser, framed, user)
    asked = browser.get(f"{provider.issuer}/logout")
    done = browser.submit(asked, form_with_button(asked, "logout", "yes"), button=("logout", "yes"))
    assert done.status_code == 200
    shown = LogoutPage(done.text)
    assert shown.frame_of(framed["name"]).startswith(framed["frontchannel_logout_uri"] + "?iss=")
    assert shown.onward is None, "nowhere to go on to"
    assert csp(done)["frame-src"] == [framed["origin"]]


def test_without_front_channel_platforms_the_logout_still_redirects_at_once(provider, browser, user):
    silent = registered(provider, post_logout=True)
    login = sign_in(provider, browser, silent, user)
    response = logout(browser, provider, id_token_hint=login.id_token, post_logout_redirect_uri=silent["post_logout"])
    assert response.status_code == 303 and response.headers["location"] == silent["post_logout"]
