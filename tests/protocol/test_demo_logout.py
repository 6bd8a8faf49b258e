"""Back-channel logout at the demo platforms (examples/): a logout at one platform ends the session at the other.

The first tests check the platform's own logout-token checks (examples.backchannel, OIDC Back-Channel Logout 1.0
§2.6) and its endpoint (§2.8) with keys of the test's own, without a provider. The live tests start the real demo
platform (examples.serve) twice against a live leerID: a cookie-keeping HTTP client logs in at both, logs out at
one (RP-initiated logout), and the other one, told by leerID's worker, shows it logged out; a third platform that
never answers is retried and reported in the audit log while the logout itself went on without it.

Clients of this file (registered by `demo_platforms`, activated for the test school):
  schoolportaal, rekenrups -- the demo platforms: confidential, school-agreement, profile names,
                              --backchannel-logout-uri at their own /backchannel-logout
  unreachable              -- confidential, --backchannel-logout-uri on a port where nothing listens
"""
from __future__ import annotations

import base64
import json
import secrets
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urljoin

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, OctKey
from sqlalchemy import create_engine, text

from examples.backchannel import EVENT, InvalidLogoutToken, LogoutTokenVerifier
from examples.platforms import PLATFORMS
from examples.rp import RpConfig, create_rp
from examples.rp_sessions import LOGIN
from tests.live import free_port
from tests.protocol.helpers import Browser, form_with_button, sign_in
from tests.protocol.test_backchannel import provider_queue
from tests.protocol.test_demo_platforms import NAME_ATTRIBUTES, Page, start_platform

ISSUER, AUDIENCE = "https://leerid.example", "demo-client-id"


# --- the platform's checks, with keys of our own (no provider) -----------------------------------------------


@pytest.fixture
def signing_key() -> ECKey:
    return ECKey.generate_key("P-256", parameters={"kid": "leerid-1"})


def published(*keys) -> dict:
    return KeySet(list(keys)).as_dict(private=False)


def logout_claims(**changes) -> dict:
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 120, "jti": secrets.token_urlsafe(12),
              "events": {EVENT: {}}, "sub": "pairwise-sub", "sid": "sso-sid"}
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def signed(key, claims: dict, alg: str = "ES256", typ: str | None = "logout+jwt") -> str:
    header = {"alg": alg, "kid": key.kid} | ({"typ": typ} if typ else {})
    return jwt.encode(header, claims, key, algorithms=[alg])


def verifier_for(*keys, later: tuple = ()) -> LogoutTokenVerifier:
    """A verifier whose leerID publishes `keys`, and `later` too when the keys are fetched again."""
    return LogoutTokenVerifier(ISSUER, AUDIENCE, lambda force: published(*keys, *(later if force else ())))


def test_a_valid_logout_token_names_the_session_to_end(signing_key):
    ended = verifier_for(signing_key).verify(signed(signing_key, logout_claims()))
    assert (ended.sid, ended.sub) == ("sso-sid", "pairwise-sub")
    only_sub = verifier_for(signing_key).verify(signed(signing_key, logout_claims(sid=None)))
    assert (only_sub.sid, only_sub.sub) == (None, "pairwise-sub")


def test_a_logout_token_is_accepted_once(signing_key):
    verifier, token = verifier_for(signing_key), signed(signing_key, logout_claims())
    verifier.verify(token)
    with pytest.raises(InvalidLogoutToken, match="jti"):
        verifier.verify(token)


def test_a_key_published_since_is_fetched_again(signing_key):
    newer = ECKey.generate_key("P-256", parameters={"kid": "leerid-2"})
    ended = verifier_for(signing_key, later=(newer,)).verify(signed(newer, logout_claims()))
    assert ended.sid == "sso-sid"


def none_alg(claims: dict) -> str:
    def part(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'logout+jwt'})}.{part(claims)}."


REFUSED = {
    "another issuer": lambda key: signed(key, logout_claims(iss="https://elsewhere.example")),
    "another platform": lambda key: signed(key, logout_claims(aud="someone-else")),
    "no iat": lambda key: signed(key, logout_claims(iat=None)),
    "an old iat": lambda key: signed(key, logout_claims(iat=int(time.time()) - 3600, exp=int(time.time()) + 60)),
    "an iat in the future": lambda key: signed(key, logout_claims(iat=int(time.time()) + 3600)),
    "expired": lambda key: signed(key, logout_claims(exp=int(time.time()) - 600)),
    "no jti": lambda key: signed(key, logout_claims(jti=None)),
    "no events": lambda key: signed(key, logout_claims(events=None)),
    "another event": lambda key: signed(key, logout_claims(events={"https://example/other": {}})),
    "an event that is no object": lambda key: signed(key, logout_claims(events={EVENT: "yes"})),
    "a nonce": lambda key: signed(key, logout_claims(nonce="n-0S6_WzA2Mj")),
    "neither sid nor sub": lambda key: signed(key, logout_claims(sid=None, sub=None)),
    "an ID token's typ": lambda key: signed(key, logout_claims(), typ="JWT"),
    "a key leerID never published": lambda key: signed(
        ECKey.generate_key("P-256", parameters={"kid": key.kid}), logout_claims()),
    "HMAC": lambda key: signed(OctKey.generate_key(256, parameters={"kid": key.kid}), logout_claims(), alg="HS256"),
    "alg none": lambda key: none_alg(logout_claims()),
    "not a JWT": lambda key: "not-a-token",
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_a_logout_token_that_fails_a_check_is_refused(signing_key, case):
    with pytest.raises(InvalidLogoutToken):
        verifier_for(signing_key).verify(REFUSED[case](signing_key))


@pytest.fixture
def platform_app(signing_key):
    """The demo platform app whose leerID (never contacted) publishes `signing_key`; (app, its session store)."""
    config = RpConfig(issuer=ISSUER, client_id=AUDIENCE, client_secret="not-used", base_url="https://rp.example")
    app = create_rp(PLATFORMS["rekenrups"], config)
    sessions, verifier = app.extensions["rp_logout"]
    verifier.jwks = lambda force: published(signing_key)
    return app, sessions


def logged_in(app, sessions, sid: str = "sso-sid", sub: str = "pairwise-sub"):
    """A browser (test client) with a platform session as after a login."""
    key = sessions.create({LOGIN: {"sid": sid, "sub": sub}, "csrf": "c",
                           "person": {"name": "Lotte Peeters", "given_name": "Lotte", "claims": {"sub": sub}}})
    browser = app.test_client()
    browser.set_cookie(PLATFORMS["rekenrups"].cookie_name, key, domain="localhost")
    assert "Lotte Peeters" in browser.get("/").get_data(as_text=True)
    return browser


def test_the_platform_ends_the_session_a_logout_token_names(platform_app, signing_key):
    app, sessions = platform_app
    pupil, other = logged_in(app, sessions), logged_in(app, sessions, sid="other-sid", sub="other-sub")
    answer = app.test_client().post("/backchannel-logout", data={"logout_token": signed(signing_key, logout_claims())})
    assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store"
    page = Page(pupil.get("/").get_data(as_text=True))
    assert "Lotte Peeters" not in page.text and "Aanmelden met leerID" in page.text
    assert page.text_of("ended-elsewhere"), "the browser is told why"
    assert "Lotte Peeters" in other.get("/").get_data(as_text=True), "another leerID session stays"
    by_sub = signed(signing_key, logout_claims(sid=None, sub="other-sub"))
    assert app.test_client().post("/backchannel-logout", data={"logout_token": by_sub}).status_code == 200
    assert "Lotte Peeters" not in other.get("/").get_data(as_text=True), "no sid: every session of that sub"
    again = signed(signing_key, logout_claims())
    assert app.test_client().post("/backchannel-logout", data={"logout_token": again}).status_code == 200, \
        "a logout of a session that is gone already is a success (§2.8)"


@pytest.mark.parametrize("how", ["a bad token", "no token", "two tokens", "JSON", "a replay"])
def test_the_platform_answers_400_with_an_error_and_keeps_the_session(platform_app, signing_key, how):
    app, sessions = platform_app
    pupil = logged_in(app, sessions)
    token = signed(signing_key, logout_claims(nonce="x") if how == "a bad token" else logout_claims())
    sender = app.test_client()
    if how == "a replay":
        sender.post("/backchannel-logout", data={"logout_token": token})
        pupil = logged_in(app, sessions)  # logged in again since
    sent = {"a bad token": {"data": {"logout_token": token}}, "no token": {"data": {"other": "x"}},
            "two tokens": {"data": {"logout_token": [token, token]}}, "JSON": {"json": {"logout_token": token}},
            "a replay": {"data": {"logout_token": token}}}[how]
    answer = sender.post("/backchannel-logout", **sent)
    assert answer.status_code == 400, answer.get_data(as_text=True)
    assert answer.headers["Cache-Control"] == "no-store"
    assert answer.get_json()["error"] == "invalid_request" and answer.get_json()["error_description"]
    assert "Lotte Peeters" in pupil.get("/").get_data(as_text=True), "nothing ended"


# --- live: two demo platforms and leerID -----------------------------------------------------------------------


@contextmanager
def demo_platforms(provider, school: str, logs: Path):
    """Both demo platforms (examples.serve), registered as leerID's demo registers them (with their back-channel
    logout URI) and activated for `school`, each on a free port: {slug: (Platform, client)}."""
    started = {}
    try:
        for slug in ("schoolportaal", "rekenrups"):
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            attributes = [arg for name in NAME_ATTRIBUTES for arg in ("--attribute", name)]
            client = provider.client("--post-logout-redirect-uri", f"{base}/", "--backchannel-logout-uri",
                                     f"{base}/backchannel-logout", "--scope", "openid", "--scope", "profile",
                                     *attributes, redirect_uri=f"{base}/callback")
            provider.run("clients", "activate", client["client_id"], "--school", school, "--json", check=False)
            started[slug] = (start_platform(slug, port, provider.issuer, client, logs / f"{slug}.log"), client)
        yield started
    finally:
        for platform, _ in started.values():
            platform.proc.terminate()
            platform.proc.wait(10)


@pytest.fixture(scope="module")
def demo(provider, school, tmp_path_factory):
    logs = tmp_path_factory.mktemp("demo-logout")
    with demo_platforms(provider, school, logs) as started:
        yield started, logs


def through(browser: Browser, response: httpx.Response, limit: int = 20) -> httpx.Response:
    """Follow every redirect, to leerID and to the platforms alike, as a browser does."""
    for _ in range(limit):
        if not response.is_redirect:
            return response
        response = browser.http.get(urljoin(str(response.url), response.headers["location"]))
    raise AssertionError(f"more than {limit} redirects from {response.url}")


def log_in_at(browser: Browser, platform, user: dict | None) -> Page:
    """Open the platform's login; log in at leerID when asked (`user`); the platform's page."""
    page = through(browser, browser.http.get(f"{platform.url}/login"))
    if page.url.path.startswith("/interaction/"):
        assert user is not None, f"leerID asked for a login at {page.url}"
        page = through(browser, browser.login(page, user))
    assert str(page.url) == f"{platform.url}/", page.url
    return Page(page.text)


def log_out_at(browser: Browser, platform, page: Page) -> httpx.Response:
    """Press the platform's Afmelden button; confirm at leerID if it asks."""
    form = page.form_with("csrf")
    assert form is not None and form.method == "post", page.text
    done = through(browser, browser.http.post(urljoin(f"{platform.url}/", form.action), data=form.fields))
    confirm = form_with_button(done, "logout", "yes")
    if confirm is not None:
        done = through(browser, browser.send(done, confirm, button=("logout", "yes")))
    assert done.status_code == 200, (done.status_code, done.url)
    return done


def shown_person(browser: Browser, platform) -> str:
    return Page(browser.http.get(f"{platform.url}/").text).text_of("person-name")


def audit_details(provider, event: str, client_id: str) -> list[dict]:
    engine = create_engine(provider.env["LEERID_DATABASE_URL"])
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT detail FROM audit_events WHERE event = :e AND client_id = :c "
                                     "ORDER BY seq"), {"e": event, "c": client_id}).scalars().all()
    finally:
        engine.dispose()
    return [row if isinstance(row, dict) else json.loads(row) for row in rows]


def wait_for(check, timeout: float = 30.0, what: str = ""):
    """check() until it gives something true (the worker delivers in the background); that value."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found or time.monotonic() > deadline:
            assert found, f"waited in vain for {what}"
            return found
        time.sleep(0.25)


def test_logging_out_at_one_demo_platform_ends_the_session_at_the_other(provider, school, demo):
    started, logs = demo
    (portal, _), (rekenrups, rekenrups_client) = started["schoolportaal"], started["rekenrups"]
    unreachable = provider.client("--backchannel-logout-uri", f"http://127.0.0.1:{free_port()}/logout")
    user = provider.user("pupil", school)
    with Browser(provider) as browser:
        at_portal = log_in_at(browser, portal, user)
        assert at_portal.text_of("person-name") == "Lotte Peeters"
        assert log_in_at(browser, rekenrups, None).text_of("person-name") == "Lotte Peeters", "single sign-on"
        sign_in(provider, browser, unreachable, None)  # a third platform in the same leerID session

        done = log_out_at(browser, portal, at_portal)
        # The logout came back while the unreachable platform's logout is still queued (not sent, not given up).
        queued = [job for job, _ in provider_queue(provider).pending() if job.client_id == unreachable["client_id"]]
        assert len(queued) == 1, "the unreachable platform's logout waits in the queue"
        assert "afgemeld" in Page(done.text).text
        assert shown_person(browser, portal) == ""

        # Rekenrups heard it from leerID, checked the token against leerID's keys and ended its own session.
        wait_for(lambda: shown_person(browser, rekenrups) == "", what="Rekenrups to end its session")
        page = Page(browser.http.get(f"{rekenrups.url}/").text)
        assert "Aanmelden met leerID" in page.text and "Lotte Peeters" not in page.text
    assert wait_for(lambda: audit_details(provider, "backchannel_logout_sent", rekenrups_client["client_id"]),
                    what="leerID to record the delivery"), "Rekenrups answered 200"
    assert wait_for(lambda: "1 session(s) ended" in (logs / "rekenrups.log").read_text(),
                    what="the platform's log line")

    # The unreachable platform: tried, tried again, reported, and still queued for later.
    def failures() -> list[dict]:
        return audit_details(provider, "backchannel_logout_failed", unreachable["client_id"])

    wait_for(lambda: len(failures()) >= 2, what="two failed attempts")
    assert all(("error" in d or "status" in d) and d.get("retry_in") for d in failures()), failures()
    [job] = [j for j, _ in provider_queue(provider).pending() if j.client_id == unreachable["client_id"]]
    assert job.attempts >= 2, "retried, and still queued for a later attempt (not given up)"


def test_a_forged_logout_token_leaves_the_session_alone(provider, school, demo):
    started, _ = demo
    rekenrups, client = started["rekenrups"]
    user = provider.user("pupil", school)
    kid = provider.http.get("/jwks").json()["keys"][0]["kid"]
    forger = ECKey.generate_key("P-256", parameters={"kid": kid})  # leerID's key id, another key
    with Browser(provider) as browser:
        sub = log_in_at(browser, rekenrups, user).text_of("claim-sub")
        now = int(time.time())
        claims = {"iss": provider.issuer, "aud": client["client_id"], "iat": now, "exp": now + 120,
                  "jti": secrets.token_urlsafe(12), "events": {EVENT: {}}, "sub": sub}
        answer = httpx.post(f"{rekenrups.url}/backchannel-logout", data={"logout_token": signed(forger, claims)},
                            trust_env=False)
        assert answer.status_code == 400 and answer.json()["error"] == "invalid_request", answer.text
        assert answer.headers["cache-control"] == "no-store"
        assert shown_person(browser, rekenrups) == "Lotte Peeters", "still logged in"
