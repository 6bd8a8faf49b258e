"""SSO sessions that work on shared classroom devices (issue 7, items 1, 2 and 4) against live providers:

- Mijn leerID > Mijn sessies lists the person's sessions (device and browser in words, platforms, "this one"), logs
  out one (its platforms get a logout token with its sid) or everywhere (every session, and every refresh token,
  refused afterwards to a real client); audited and in the history.
- A school administrator does the same for a pupil of their school in the console; another school's administrator
  gets the same 404 as for anything else, and so does anyone who is not a pupil here. The school's device policy is
  set in the console.
- A provider of this file's own with short time-outs for pupils on a shared device: ticking "Dit is een gedeeld
  toestel" gives a cookie without Max-Age or Expires and a session that times out, after which the platform gets a
  back-channel logout token (verified against JWKS with joserfc) from the worker's sweep, as after a click; a school
  whose devices are shared makes every login of its pupils so; on a school's network with that policy the login
  page says so, and Mijn sessies names the school as the place.

Clients of this file (each on the provider its tests use; logout tokens go to a local receiver):
  platform -- confidential, school-agreement, scopes openid profile offline_access, --backchannel-logout-uri
"""
from __future__ import annotations

import contextlib
import json
import re
import secrets
from pathlib import Path

import httpx
import pytest
from authlib.integrations.base_client import OAuthError
from sqlalchemy import create_engine, text

from tests.live import LiveProvider, fresh_database
from tests.local_http import Documents
from tests.protocol.helpers import (
    Browser,
    assert_oauth_error,
    authorization_url,
    authorize_url,
    console,
    login_form,
    parse_forms,
    refresh,
    relying_party,
    sign_in,
    verify_id_token,
)
from tests.protocol.test_backchannel import logout_token

SCOPE = "openid profile offline_access"
CHROME_WINDOWS = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                  "Chrome/124.0 Safari/537.36")
SAFARI_IPAD = ("Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 "
               "Mobile/15E148 Safari/604.1")
SHORT = {"LEERID_PUPIL_SHARED_SESSION_TTL": "4", "LEERID_PUPIL_SHARED_SESSION_MAX_AGE": "5"}


@pytest.fixture(scope="module")
def receiver():
    with Documents() as documents:
        yield documents


def listening(provider, receiver: Documents) -> tuple[dict, str]:
    """A platform whose back-channel logout URI is a fresh path on the receiver: (client, path)."""
    path = f"/logout/{secrets.token_hex(6)}"
    client = provider.client("--scope", "openid", "--scope", "profile", "--scope", "offline_access",
                             "--backchannel-logout-uri", receiver.receiver(path))
    return client, path


def browser_as(provider, agent: str, source: str | None = None) -> Browser:
    """A person's browser that says what it is (User-Agent), optionally connecting from another loopback address."""
    browser = Browser(provider)
    browser.http.headers["User-Agent"] = agent
    if source is not None:
        browser.http.close()
        browser.http = httpx.Client(timeout=30, trust_env=False, follow_redirects=False,
                                    transport=httpx.HTTPTransport(local_address=source),
                                    headers={"Accept-Language": "nl-BE,nl;q=0.9", "User-Agent": agent})
    return browser


def at_mijn(provider, person: dict, agent: str = SAFARI_IPAD, source: str | None = None) -> Browser:
    browser = browser_as(provider, agent, source)
    page = browser.login(browser.get(f"{provider.issuer}/mijn"), person)
    assert page.status_code == 200 and str(page.url) == f"{provider.issuer}/mijn", (page.url, page.text[:300])
    return browser


def sessions_page(provider, browser: Browser) -> httpx.Response:
    page = browser.get(f"{provider.issuer}/mijn/sessies")
    assert page.status_code == 200, (page.status_code, page.url, page.text[:300])
    return page


def form_for(page: httpx.Response | str, suffix: str, button_text: str | None = None):
    """The form of a page (or a piece of one) posting to an action that ends with `suffix` (whose button says
    `button_text`)."""
    html = page if isinstance(page, str) else page.text
    for match in re.finditer(r'<form method="post" action="([^"]+)">(.*?)</form>', html, re.DOTALL):
        if match.group(1).endswith(suffix) and (button_text is None or button_text in match.group(2)):
            return next(f for f in parse_forms(match.group(0)) if f.action == match.group(1))
    return None


def post(browser: Browser, page: httpx.Response, form) -> httpx.Response:
    return browser.send(page, form)


def sid_of(provider, login, client: dict) -> str:
    return verify_id_token(provider, login.id_token, client["client_id"])["sid"]


def signed_out_there(provider, browser: Browser, client: dict) -> bool:
    """Whether the browser's session is gone: prompt=none answers login_required."""
    quiet = browser.authorize(authorize_url(provider, client, prompt="none"), consent=None)
    return quiet.params.get("error") == "login_required"


def audit(provider, event: str, subject: str) -> list[tuple]:
    engine = create_engine(provider.env["LEERID_DATABASE_URL"])
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT actor_id, school_id, detail FROM audit_events WHERE event = :e AND "
                                     "subject_id = :s ORDER BY seq"), {"e": event, "s": subject})
            return [(a, school, d if isinstance(d, dict) else json.loads(d)) for a, school, d in rows]
    finally:
        engine.dispose()


# --- Mijn sessies -------------------------------------------------------------------------------------------------


@pytest.fixture
def person(provider, school) -> dict:
    return provider.user(school=school)


def test_my_sessions_say_where_with_which_platforms_and_which_is_this_one(provider, receiver, person):
    platform, _ = listening(provider, receiver)
    with browser_as(provider, CHROME_WINDOWS) as laptop, at_mijn(provider, person) as tablet:
        sign_in(provider, laptop, platform, person)
        page = sessions_page(provider, tablet)
        assert page.headers["Cache-Control"] == "no-store"
        assert re.search(r'>Chrome op Windows</h2>', page.text), page.text
        assert re.search(r'>Safari op iPad <span class="hint">\(dit toestel\)</span></h2>', page.text), page.text
        assert platform["name"] in page.text and page.text.count("(dit toestel)") == 1
        assert form_for(page, "/overal") is not None
        assert 'aria-current="page"' in page.text and 'href="/mijn/sessies"' in page.text


def test_logging_out_one_session_ends_it_and_tells_its_platforms(provider, receiver, person):
    platform, path = listening(provider, receiver)
    with browser_as(provider, CHROME_WINDOWS) as laptop, at_mijn(provider, person) as tablet:
        login = sign_in(provider, laptop, platform, person)
        page = sessions_page(provider, tablet)
        done = post(tablet, page, form_for(page, "/afmelden", "Daar afmelden"))
        assert done.status_code == 303 and done.headers["location"] == "/mijn/sessies", done.headers
        after = tablet.get(f"{provider.issuer}/mijn/sessies")
        assert "Je bent afgemeld op Chrome op Windows." in after.text
        assert "Chrome op Windows</h2>" not in after.text and "(dit toestel)" in after.text, "this one goes on"
        [posted] = receiver.wait_for_posts(path)
        claims = logout_token(provider, posted, platform)
        assert claims["sid"] == sid_of(provider, login, platform)
        assert signed_out_there(provider, laptop, platform)
        [(actor, school_id, detail)] = audit(provider, "session_ended", person["id"])
        assert actor == person["id"] and school_id is None and detail["platforms"] == [platform["client_id"]]
        history = tablet.get(f"{provider.issuer}/mijn/geschiedenis")
        assert "Je werd afgemeld op een toestel." in history.text


def test_logging_out_this_one_ends_the_visit(provider, person):
    with at_mijn(provider, person) as tablet:
        page = sessions_page(provider, tablet)
        done = post(tablet, page, form_for(page, "/afmelden", "Hier afmelden"))
        assert done.status_code == 303 and done.headers["location"] == "/mijn/afgemeld"
        assert any(c.startswith("leerid_sso=") and "max-age=0" in c.lower() for c in done.headers.get_list("set-cookie"))
        shown = tablet.get(f"{provider.issuer}/mijn/afgemeld")
        assert shown.status_code == 200 and "Je bent afgemeld op dit toestel." in shown.text
        assert tablet.http.get(f"{provider.issuer}/mijn").status_code == 303, "Mijn leerID asks for a login again"


def test_logging_out_everywhere_ends_every_session_and_refresh_token(provider, receiver, person):
    platform, path = listening(provider, receiver)
    other, other_path = listening(provider, receiver)
    with browser_as(provider, CHROME_WINDOWS) as laptop, Browser(provider) as phone, \
            at_mijn(provider, person) as tablet:
        login = sign_in(provider, laptop, platform, person, scope=SCOPE)
        kept = sign_in(provider, phone, other, person, scope=SCOPE)
        page = sessions_page(provider, tablet)  # the phone's session ends first: its platform keeps a refresh token
        phone_form = next(form_for(m.group(0), "/afmelden") for m in re.finditer(
            r'<section class="card".*?</section>', page.text, re.DOTALL) if "Een onbekend toestel" in m.group(0))
        assert post(tablet, page, phone_form).status_code == 303
        assert len(receiver.wait_for_posts(other_path)) == 1
        page = sessions_page(provider, tablet)
        done = post(tablet, page, form_for(page, "/overal"))
        assert done.status_code == 303 and done.headers["location"] == "/mijn/afgemeld"
        assert "overal afgemeld" in tablet.get(f"{provider.issuer}/mijn/afgemeld").text
        for client, token in ((platform, login.token), (other, kept.token)):
            assert_oauth_error(refresh(provider, client, token["refresh_token"]), "invalid_grant")
        assert signed_out_there(provider, laptop, platform)
        assert tablet.http.get(f"{provider.issuer}/mijn").status_code == 303
    [posted] = receiver.wait_for_posts(path)
    assert logout_token(provider, posted, platform)["sid"] == sid_of(provider, login, platform)
    _first, everything = receiver.wait_for_posts(other_path, 2)
    assert "sid" not in logout_token(provider, everything, other), "every session of the person there"
    [(actor, _, detail)] = audit(provider, "logged_out_everywhere", person["id"])
    assert actor == person["id"] and detail["sessions"] == 2
    assert set(detail["platforms"]) == {platform["client_id"], other["client_id"]}
    with at_mijn(provider, person) as again:
        assert "Je werd overal afgemeld" in again.get(f"{provider.issuer}/mijn/geschiedenis").text


def in_process(provider):
    """The provider's app in this process, on its database and Redis: to run something inside one request."""
    from idp import create_app
    from tests.live import _environment

    with _environment(provider.env), contextlib.chdir(provider.workdir):
        return create_app()


@pytest.mark.parametrize("prompt", ["none", None])
def test_a_sign_in_under_way_when_everything_is_logged_out_gets_no_code(provider, receiver, person, prompt):
    """Log out everywhere (or a password change) between the authorization reading the session and its code: the
    platform gets no code, so no tokens nobody would revoke or tell it about (review of issue 7, finding 2)."""
    platform, _ = listening(provider, receiver)
    with at_mijn(provider, person) as browser:
        app = in_process(provider)
        sessions = app.extensions["leerid"].sessions
        read = sessions.get

        def read_then_everything_ends(cookie):
            found = read(cookie)
            if found is not None:
                sessions.end_all(found.account_id, tell=True)
                ended.append(found)
            return found

        ended = []

        sessions.get = read_then_everything_ends
        web = app.test_client()
        web.set_cookie("leerid_sso", browser.http.cookies.get("leerid_sso"), domain="127.0.0.1")
        answer = web.get(authorize_url(provider, platform, prompt=prompt))
        location = answer.headers.get("Location", "")
        assert ended, "the session was read, then everything ended"
        assert answer.status_code in (302, 303) and "code=" not in location, (answer.status_code, location)
        if prompt == "none":
            assert location.startswith(platform["redirect_uri"]) and "error=login_required" in location, location
        else:
            assert "/interaction/" in location, location
        assert signed_out_there(provider, browser, platform)


def test_a_code_of_a_session_logged_out_since_gets_no_tokens(provider, receiver, person):
    """The token endpoint too refuses a code whose session ended before it was redeemed (review of issue 7)."""
    platform, _ = listening(provider, receiver)
    with at_mijn(provider, person) as browser:
        login = sign_in(provider, browser, platform, person, scope=SCOPE, redeem=False)
        page = sessions_page(provider, browser)
        assert post(browser, page, form_for(page, "/overal")).status_code == 303
        with pytest.raises(OAuthError) as refused:
            login.rp.fetch_token(code=login.callback.code, code_verifier=login.verifier,
                                 grant_type="authorization_code", redirect_uri=platform["redirect_uri"])
        assert refused.value.error == "invalid_grant"


def test_someone_else_s_session_cannot_be_ended(provider, school, person):
    other = provider.user(school=school)
    platform = provider.client()
    with Browser(provider) as theirs, at_mijn(provider, person) as mine:
        sign_in(provider, theirs, platform, other)
        their_page = at_mijn(provider, other)
        their_sid = form_for(sessions_page(provider, their_page), "/afmelden", "Daar afmelden").action.split("/")[-2]
        their_page.close()
        page = sessions_page(provider, mine)
        token = form_for(page, "/overal").fields["csrf_token"]
        done = mine.http.post(f"{provider.issuer}/mijn/sessies/{their_sid}/afmelden", data={"csrf_token": token})
        assert done.status_code == 303
        assert "Die sessie was al afgelopen" in mine.get(f"{provider.issuer}/mijn/sessies").text
        assert not signed_out_there(provider, theirs, platform)
        refused = mine.http.post(f"{provider.issuer}/mijn/sessies/overal")  # no CSRF token
        assert refused.status_code == 400
        assert sessions_page(provider, mine).text.count("(dit toestel)") == 1, "nothing ended"


# --- the school console ---------------------------------------------------------------------------------------------


def staff(provider, number: str, *extra: str) -> dict:
    username, password = f"s{secrets.token_hex(4)}", f"Pw-{secrets.token_urlsafe(12)}"
    out = provider.cli("users", "create", "--username", username, "--password", password, "--given-name", "Els",
                       "--family-name", "Beheer", "--role", "staff", "--school", number, *extra)
    return dict(out, password=password)


@pytest.fixture(scope="module")
def schools(provider, receiver):
    """Schools A and B with an administrator each, a platform both took on, a pupil and a teacher of A."""
    a, b = provider.school(), provider.school()
    admins = {a: staff(provider, a, "--school-admin"), b: staff(provider, b, "--school-admin")}
    platform, path = listening(provider, receiver)
    browsers = {n: console(provider, admin) for n, admin in admins.items()}
    yield a, b, browsers, platform, path
    for browser in browsers.values():
        browser.close()


def console_post(provider, browser: Browser, path: str, **data) -> httpx.Response:
    page = browser.get(f"{provider.issuer}/beheer")
    token = next(f.fields["csrf_token"] for f in parse_forms(page.text) if "csrf_token" in f.fields)
    return browser.http.post(provider.issuer + path, data={"csrf_token": token, **data})


def test_an_administrator_ends_a_pupil_s_sessions(provider, school, receiver, schools):
    a, _, browsers, platform, path = schools
    pupil = provider.user(school=a)
    with browser_as(provider, CHROME_WINDOWS) as pupils:
        login = sign_in(provider, pupils, platform, pupil)
        page = browsers[a].get(f"{provider.issuer}/beheer/{a}/personen/{pupil['id']}")
        assert "Aangemeld op toestellen" in page.text and "Chrome op Windows" in page.text, page.text[:500]
        assert platform["name"] in page.text
        one = form_for(page, "/afmelden")
        done = browsers[a].send(page, one)
        assert done.status_code == 303 and done.headers["location"].endswith(f"/personen/{pupil['id']}#sessies")
        [posted] = receiver.wait_for_posts(path)
        assert logout_token(provider, posted, platform)["sid"] == sid_of(provider, login, platform)
        assert signed_out_there(provider, pupils, platform)
        again = sign_in(provider, pupils, platform, pupil, scope=SCOPE)
        done = console_post(provider, browsers[a], f"/beheer/{a}/personen/{pupil['id']}/sessies/overal")
        assert done.status_code == 303
        assert_oauth_error(refresh(provider, platform, again.token["refresh_token"]), "invalid_grant")
        assert signed_out_there(provider, pupils, platform)
    shown = browsers[a].get(f"{provider.issuer}/beheer/{a}/personen/{pupil['id']}")
    assert "is nu nergens aangemeld" in shown.text
    admin_id = next(r[0] for r in audit(provider, "session_ended", pupil["id"]))
    for event in ("session_ended", "logged_out_everywhere"):
        [(actor, school_id, detail)] = audit(provider, event, pupil["id"])
        assert actor == admin_id != pupil["id"] and school_id is not None and detail["school"] == a
    with at_mijn(provider, pupil) as theirs:  # the pupil sees it in their history, and by whom
        history = theirs.get(f"{provider.issuer}/mijn/geschiedenis").text
        assert "Je werd afgemeld op een toestel." in history and "Els Beheer" in history


def test_a_password_reset_or_a_deactivation_logs_the_pupil_out_at_the_platforms_too(provider, receiver, schools):
    """The pupil's sessions end on a new password in the console and on `leerid users deactivate`, and every
    platform in them gets a logout token: no one finds the pupil still logged in there."""
    a, _, browsers, _, _ = schools
    platform, path = listening(provider, receiver)
    pupil = provider.user(school=a)
    with browser_as(provider, CHROME_WINDOWS) as pupils:
        login = sign_in(provider, pupils, platform, pupil)
        done = console_post(provider, browsers[a], f"/beheer/{a}/personen/{pupil['id']}/wachtwoord")
        assert done.status_code == 200, done.text[:300]
        [posted] = receiver.wait_for_posts(path)
        assert logout_token(provider, posted, platform)["sid"] == sid_of(provider, login, platform)
        assert signed_out_there(provider, pupils, platform)
    other = provider.user(school=a)
    with browser_as(provider, CHROME_WINDOWS) as theirs:
        login = sign_in(provider, theirs, platform, other)
        provider.cli("users", "deactivate", other["username"])
        posts = receiver.wait_for_posts(path, 2)
        assert sid_of(provider, login, platform) in {logout_token(provider, p, platform).get("sid") for p in posts}


def test_another_school_s_administrator_gets_the_same_404(provider, schools):
    a, b, browsers, platform, _ = schools
    pupil, teacher = provider.user(school=a), provider.user("teacher", school=a)
    with Browser(provider) as pupils:
        sign_in(provider, pupils, platform, pupil)
        for number in (a, b):  # B's administrator, at A's number and at their own
            base = f"/beheer/{number}/personen/{pupil['id']}/sessies"
            assert console_post(provider, browsers[b], f"{base}/overal").status_code == 404
            assert console_post(provider, browsers[b], f"{base}/{secrets.token_urlsafe(16)}/afmelden").status_code \
                == 404
        assert console_post(provider, browsers[b], f"/beheer/{a}/toestellen", toestellen="shared").status_code == 404
        assert browsers[b].get(f"{provider.issuer}/beheer/{a}/toestellen").status_code == 404
        assert not signed_out_there(provider, pupils, platform), "nothing ended"
    assert console_post(provider, browsers[a], f"/beheer/{a}/personen/{teacher['id']}/sessies/overal").status_code \
        == 404, "a teacher is no pupil"
    assert "Aangemeld op toestellen" not in browsers[a].get(
        f"{provider.issuer}/beheer/{a}/personen/{teacher['id']}").text
    assert audit(provider, "logged_out_everywhere", pupil["id"]) == []


def test_the_school_sets_its_device_policy_in_the_console(provider, schools):
    a, _, browsers, _, _ = schools
    page = browsers[a].get(f"{provider.issuer}/beheer/{a}/toestellen")
    assert page.status_code == 200 and 'value="ask" checked' in page.text
    wrong = console_post(provider, browsers[a], f"/beheer/{a}/toestellen", toestellen="sometimes")
    assert wrong.status_code == 400 and 'role="alert"' in wrong.text
    try:
        assert console_post(provider, browsers[a], f"/beheer/{a}/toestellen", toestellen="personal").status_code \
            == 303
        assert 'value="personal" checked' in browsers[a].get(f"{provider.issuer}/beheer/{a}/toestellen").text
        [(_, school_id, detail)] = audit_school(provider, "device_policy_changed", a)
        assert (detail["from"], detail["to"]) == ("ask", "personal") and school_id is not None
    finally:
        console_post(provider, browsers[a], f"/beheer/{a}/toestellen", toestellen="ask")


def audit_school(provider, event: str, number: str) -> list[tuple]:
    engine = create_engine(provider.env["LEERID_DATABASE_URL"])
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT actor_id, school_id, detail FROM audit_events WHERE event = :e"),
                                {"e": event})
            found = [(a, s, d if isinstance(d, dict) else json.loads(d)) for a, s, d in rows]
    finally:
        engine.dispose()
    return [row for row in found if row[2].get("school") == number][:1]


# --- short time-outs on a provider of this file's own ---------------------------------------------------------------


@pytest.fixture(scope="module")
def short(tmp_path_factory):
    """A provider where a pupil's session on a shared device ends after 4 s idle, 5 s at most."""
    workdir: Path = tmp_path_factory.mktemp("short-sessions")
    with fresh_database(workdir) as url:
        live = LiveProvider(workdir, url, extra_env=SHORT).start()
        try:
            yield live
        finally:
            live.stop()


def log_in(provider, browser: Browser, client: dict, person: dict, **typed: str):
    """A code flow whose login form is sent with `typed` (e.g. shared_device="yes"): (the login POST's answer,
    the ID token's claims)."""
    rp = relying_party(provider, client, scope="openid")
    url, _state, nonce, verifier = authorization_url(provider, rp)
    page = browser.get(url)
    answer = browser.send(page, login_form(page), username=person["username"], password=person["password"], **typed)
    callback = browser.callback(browser.follow(answer))
    token = rp.fetch_token(code=callback.code, code_verifier=verifier, grant_type="authorization_code",
                           redirect_uri=client["redirect_uri"])
    return answer, verify_id_token(provider, token["id_token"], client["client_id"], nonce=nonce)


def sso_cookie(answer: httpx.Response) -> str:
    [cookie] = [c for c in answer.headers.get_list("set-cookie") if c.startswith("leerid_sso=")
                and "max-age=0" not in c.lower()]
    return cookie.lower()


def test_a_shared_device_session_ends_with_the_browser_and_its_time_out_logs_out_the_platforms(short, receiver):
    school = short.school()
    pupil = short.user(school=school)
    platform, platform_path = listening(short, receiver)
    with Browser(short) as shared, Browser(short) as own:
        answer, claims = log_in(short, shared, platform, pupil, shared_device="yes")
        assert "max-age" not in sso_cookie(answer) and "expires" not in sso_cookie(answer)
        own_answer, _ = log_in(short, own, platform, short.user(school=school))
        assert "max-age=43200" in sso_cookie(own_answer), "a pupil's own device: kept for the session's lifetime"
        [posted] = receiver.wait_for_posts(platform_path, timeout=30)
        ended = logout_token(short, posted, platform)
        assert (ended["sid"], ended["sub"]) == (claims["sid"], claims["sub"]), "the timed-out session's"
        assert signed_out_there(short, shared, platform)
        assert not signed_out_there(short, own, platform), "the personal session goes on"


def test_a_school_whose_devices_are_shared_makes_its_pupils_sessions_short(short, receiver):
    school = short.school()
    with console(short, staff(short, school, "--school-admin")) as admin:
        assert console_post(short, admin, f"/beheer/{school}/toestellen", toestellen="shared").status_code == 303
    platform, path = listening(short, receiver)
    pupil = short.user(school=school)
    with Browser(short) as browser:
        page = browser.get(authorize_url(short, platform))
        assert login_form(page) is not None and 'name="shared_device"' in page.text, "elsewhere the page still asks"
        answer, claims = log_in(short, browser, platform, pupil)  # not ticked
        assert "max-age" not in sso_cookie(answer)
        [posted] = receiver.wait_for_posts(path, timeout=30)
        assert logout_token(short, posted, platform)["sid"] == claims["sid"]


def test_on_a_school_network_with_shared_devices_the_login_page_says_so(short):
    school = short.school()
    with console(short, staff(short, school, "--school-admin")) as admin:
        assert console_post(short, admin, f"/beheer/{school}/badges", netwerken="127.0.0.2/32",
                            stap="none").status_code == 303
        assert console_post(short, admin, f"/beheer/{school}/toestellen", toestellen="shared").status_code == 303
    pupil = short.user(school=school)
    with browser_as(short, CHROME_WINDOWS, source="127.0.0.2") as there, Browser(short) as elsewhere:
        page = there.get(f"{short.issuer}/mijn")
        assert login_form(page).fields.get("shared_device") == ["yes"], "ticked for whoever logs in here"
        assert f"Dit is een gedeeld toestel van Testschool {school}" in page.text
        assert 'name="shared_device"' in elsewhere.get(f"{short.issuer}/mijn").text
        answer = there.send_login(page, pupil["username"], pupil["password"])
        assert "max-age" not in sso_cookie(answer)
        listed = sessions_page(short, there)
        assert f"Testschool {school}" in listed.text and "Een gedeeld toestel" in listed.text
    # Someone who does not belong to the school gets neither its policy nor its name as the place: a school's
    # administrator decides for the school's own people only (review of issue 7, finding 3).
    outsider = short.user("parent")
    with browser_as(short, CHROME_WINDOWS, source="127.0.0.2") as there:
        page = there.get(f"{short.issuer}/mijn")
        form = login_form(page)
        form.fields.pop("shared_device")  # an outsider unticks the box: the school's policy is not theirs
        answer = there.send(page, form, username=outsider["username"], password=outsider["password"])
        assert "max-age=" in sso_cookie(answer), "not made a shared device's session by another school's policy"
        listed = sessions_page(short, there)
        assert f"Testschool {school}" not in listed.text and "Een gedeeld toestel" not in listed.text
