"""Passkeys over HTTP (DESIGN.md Authentication: amr "hwk"; issue 6, item 5), with a software authenticator
(tests/unit/test_passkeys.py) answering the options the pages ask for, as the page's script would, and Authlib as
the platform: a login without username or password, the passkey as second factor after the password and for a
step-up, single-use challenges, a copied passkey refused and audited, Mijn leerID's forms, and `leerid users
passkeys`.

Like tests/browser/test_passkeys.py, this file runs a provider at http://localhost:PORT: the RP ID is the issuer's
host, and an IP address such as the suite's 127.0.0.1 is none (there, passkeys are not offered: tested too).

Clients of this file:
  platform -- confidential, school agreement, default scopes (on the localhost provider)
"""
from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import create_engine, text

from tests.live import on_localhost
from tests.protocol.helpers import (
    Browser,
    authorization_url,
    code_form,
    login_form,
    relying_party,
    verify_id_token,
)
from tests.unit.test_passkeys import SoftAuthenticator

ACR_MFA = "urn:leerid:acr:mfa"


@pytest.fixture(scope="module")
def local(tmp_path_factory):
    """A provider at http://localhost:PORT; the role policy (another part's) asks teachers nothing here."""
    with on_localhost(tmp_path_factory.mktemp("leerid-passkeys"), {"LEERID_MFA_ROLES": ""}) as live:
        yield live


@pytest.fixture(scope="module")
def local_school(local) -> str:
    return local.school()


@pytest.fixture(scope="module")
def platform(local, local_school) -> dict:
    return local.client()


@pytest.fixture
def teacher(local, local_school) -> dict:
    return local.user("teacher", local_school)


@pytest.fixture
def person(local):
    with Browser(local) as browser:
        yield browser


def authenticator(local) -> SoftAuthenticator:
    return SoftAuthenticator("localhost", local.issuer)


def attributes(page_html: str, marker: str) -> dict[str, str]:
    """The data-* attributes of the element carrying `marker` (e.g. data-passkey="login")."""
    start = page_html.index(marker)
    tag = page_html[page_html.rindex("<", 0, start):page_html.index(">", start)]
    return {k: html.unescape(v) for k, v in re.findall(r'data-([a-z-]+)="([^"]*)"', tag)}


def sign_in_to_mijn(local, person: Browser, user: dict):
    page = person.get(f"{local.issuer}/mijn/beveiliging")
    page = person.login(page, user)
    assert page.status_code == 200 and str(page.url).endswith("/mijn/beveiliging"), page.url
    return page


def add_passkey(local, person: Browser, key: SoftAuthenticator, name: str = "Laptop"):
    """Mijn leerID > Beveiliging, as its script does: options, the authenticator, the form."""
    page = person.get(f"{local.issuer}/mijn/beveiliging")
    form = attributes(page.text, 'data-passkey="register"')
    options = person.http.post(local.issuer + form["options"], headers={"X-CSRFToken": form["csrf"]})
    assert options.status_code == 200, options.text
    assert options.headers["content-type"] == "application/json"
    return person.http.post(f"{local.issuer}/mijn/beveiliging/passkeys",
                            data={"csrf_token": form["csrf"], "name": name, "credential": key.create(options.text)})


def use_passkey(local, person: Browser, page, key: SoftAuthenticator, **answer):
    """The page's passkey button, as its script does; the raw answer to the POST."""
    found = attributes(page.text, 'data-passkey="login"')
    options = person.http.post(local.issuer + found["options"], headers={"X-CSRFToken": found["csrf"]})
    assert options.status_code == 200, options.text
    return person.http.post(local.issuer + found["action"],
                            data={"csrf_token": found["csrf"], "credential": key.get(options.text, **answer)})


def registered(local, person: Browser, user: dict) -> SoftAuthenticator:
    key = authenticator(local)
    sign_in_to_mijn(local, person, user)
    assert add_passkey(local, person, key).status_code == 303
    return key


def start(local, person: Browser, platform: dict, **params):
    rp = relying_party(local, platform)
    url, state, nonce, verifier = authorization_url(local, rp, **params)
    return person.get(url), (rp, state, nonce, verifier)


def finish(local, person: Browser, platform: dict, response, flow) -> dict:
    rp, state, nonce, verifier = flow
    callback = person.callback(person.follow(response))
    assert callback.params.get("state") == state, callback.params
    token = rp.fetch_token(code=callback.code, code_verifier=verifier, grant_type="authorization_code",
                           redirect_uri=platform["redirect_uri"])
    return verify_id_token(local, token["id_token"], platform["client_id"], nonce=nonce)


def audit_events(local, event: str, account_id: str) -> list[str]:
    engine = create_engine(local.env["LEERID_DATABASE_URL"])
    try:
        with engine.connect() as conn:
            return list(conn.execute(text("SELECT detail FROM audit_events WHERE event = :e AND subject_id = :a"),
                                     {"e": event, "a": account_id}).scalars())
    finally:
        engine.dispose()


# --- logging in ---------------------------------------------------------------------------------------------------


def test_a_passkey_alone_logs_in_with_amr_hwk_and_acr_mfa(local, platform, teacher):
    with Browser(local) as setup:
        key = registered(local, setup, teacher)
    with Browser(local) as person:
        page, flow = start(local, person, platform)
        assert login_form(page) is not None
        claims = finish(local, person, platform, use_passkey(local, person, page, key), flow)
    assert claims["amr"] == ["hwk"] and claims["acr"] == ACR_MFA
    assert "hwk" in str(audit_events(local, "login", teacher["id"])[-1])


def sso_cookie(answer) -> str:
    [cookie] = [c for c in answer.headers.get_list("set-cookie") if c.startswith("leerid_sso=")
                and "max-age=0" not in c.lower()]
    return cookie.lower()


def test_the_shared_device_tick_counts_for_a_passkey_login_and_a_failed_attempt_leaves_none(local, platform,
                                                                                              local_school):
    """Security review of issue 7, finding 4: the passkey form sends "Dit is een gedeeld toestel" and is read; a tick
    sent with a wrong password is not used by the passkey login after it."""
    user = local.user("teacher", local_school)
    with Browser(local) as setup:
        key = registered(local, setup, user)
    with Browser(local) as person:
        page, flow = start(local, person, platform)
        answer = use_passkey_with(local, person, page, key, shared_device="yes")
        assert answer.status_code == 303 and "max-age" not in sso_cookie(answer), "a shared device: ends with the browser"
        finish(local, person, platform, answer, flow)
    with Browser(local) as person:
        page, flow = start(local, person, platform)
        wrong = person.send(page, login_form(page), username=user["username"], password="niet-het-wachtwoord",
                            shared_device="yes")
        assert wrong.status_code == 401 and 'name="shared_device" value="yes"' in wrong.text
        assert re.search(r'id="shared_device"[^>]*checked', wrong.text), "the tick stays on the page"
        answer = use_passkey_with(local, person, wrong, key)  # not ticked this time
        assert answer.status_code == 303 and "max-age=" in sso_cookie(answer), "no tick left over from before"
        finish(local, person, platform, answer, flow)


def use_passkey_with(local, person: Browser, page, key: SoftAuthenticator, **fields):
    """use_passkey, with the login form's other `fields` sent along as the page's script does."""
    found = attributes(page.text, 'data-passkey="login"')
    options = person.http.post(local.issuer + found["options"], headers={"X-CSRFToken": found["csrf"]})
    assert options.status_code == 200, options.text
    return person.http.post(local.issuer + found["action"],
                            data={"csrf_token": found["csrf"], "credential": key.get(options.text), **fields})


def test_after_the_password_the_passkey_is_the_second_factor(local, platform, teacher, person):
    key = registered(local, person, teacher)
    with Browser(local) as other:
        page, flow = start(local, other, platform)
        page = other.follow(other.send_login(page, teacher["username"], teacher["password"]))
        assert code_form(page) is None, "no code app: the page offers the passkey only"
        assert 'data-passkey="login"' in page.text
        claims = finish(local, other, platform, use_passkey(local, other, page, key), flow)
    assert claims["amr"] == ["pwd", "hwk"] and claims["acr"] == ACR_MFA


def test_with_a_code_app_and_a_passkey_the_page_offers_both(local, platform, teacher, person):
    key = registered(local, person, teacher)
    local.cli("users", "totp", teacher["username"])
    with Browser(local) as other:
        page, flow = start(local, other, platform)
        page = other.follow(other.send_login(page, teacher["username"], teacher["password"]))
        assert code_form(page) is not None and 'data-passkey="login"' in page.text
        claims = finish(local, other, platform, use_passkey(local, other, page, key), flow)
    assert claims["amr"] == ["pwd", "hwk"]


def test_a_step_up_accepts_a_passkey(local, platform, teacher, person):
    key = registered(local, person, teacher)  # the session logged in with the password alone
    page, flow = start(local, person, platform)
    assert finish(local, person, platform, page, flow)["amr"] == ["pwd"]
    page, flow = start(local, person, platform, acr_values=ACR_MFA)
    assert login_form(page) is None and 'data-passkey="login"' in page.text
    claims = finish(local, person, platform, use_passkey(local, person, page, key), flow)
    assert claims["amr"] == ["pwd", "hwk"] and claims["acr"] == ACR_MFA


def test_an_assertion_counts_once(local, platform, teacher):
    with Browser(local) as setup:
        key = registered(local, setup, teacher)
    with Browser(local) as person:
        page, _ = start(local, person, platform)
        found = attributes(page.text, 'data-passkey="login"')
        options = person.http.post(local.issuer + found["options"], headers={"X-CSRFToken": found["csrf"]})
        answer = {"csrf_token": found["csrf"], "credential": key.get(options.text)}
        assert person.http.post(local.issuer + found["action"], data=answer).status_code == 303
    with Browser(local) as thief:  # the same assertion, replayed in another browser's login
        page, _ = start(local, thief, platform)
        found = attributes(page.text, 'data-passkey="login"')
        thief.http.post(local.issuer + found["options"], headers={"X-CSRFToken": found["csrf"]})
        replayed = thief.http.post(local.issuer + found["action"], data=dict(answer, csrf_token=found["csrf"]))
        assert replayed.status_code == 401 and login_form(replayed) is not None
        assert thief.cookie("leerid_sso") is None


def test_a_copied_passkey_is_refused_and_audited(local, platform, teacher):
    with Browser(local) as setup:
        key = registered(local, setup, teacher)
    with Browser(local) as person:
        page, flow = start(local, person, platform)
        finish(local, person, platform, use_passkey(local, person, page, key, counter=7), flow)
    with Browser(local) as copy:
        page, _ = start(local, copy, platform)
        refused = use_passkey(local, copy, page, key, counter=3)
        assert refused.status_code == 403 and "kopie" in refused.text
        assert copy.cookie("leerid_sso") is None
    assert len(audit_events(local, "passkey_clone_detected", teacher["id"])) == 1


def test_a_deactivated_account_cannot_use_its_passkey(local, platform, local_school, person):
    user = local.user("teacher", local_school)
    key = registered(local, person, user)
    local.cli("users", "deactivate", user["username"])
    with Browser(local) as other:
        page, _ = start(local, other, platform)
        assert use_passkey(local, other, page, key).status_code == 401


def test_the_options_need_the_csrf_token(local, platform, person):
    page, _ = start(local, person, platform)
    found = attributes(page.text, 'data-passkey="login"')
    assert person.http.post(local.issuer + found["options"]).status_code == 400
    assert person.http.post(local.issuer + found["action"], data={"credential": "{}"}).status_code == 400


def test_no_passkeys_where_the_issuer_is_an_ip_address(provider):
    """The suite's provider runs at http://127.0.0.1:PORT, which WebAuthn cannot use as RP ID."""
    client = provider.client()
    with Browser(provider) as person:
        page, _ = start(provider, person, client)
        assert login_form(page) is not None and "data-passkey" not in page.text
        uid = re.search(r"/interaction/([^/\"]+)/login", page.text).group(1)
        csrf = login_form(page).fields["csrf_token"]
        refused = person.http.post(f"{provider.issuer}/interaction/{uid}/passkey/options",
                                   headers={"X-CSRFToken": csrf})
        assert refused.status_code == 400


# --- Mijn leerID and the command line -------------------------------------------------------------------------


def test_adding_a_passkey_writes_nothing_on_a_bad_answer(local, teacher, person):
    sign_in_to_mijn(local, person, teacher)
    key = authenticator(local)
    key.origin = "https://leerid.example"  # a look-alike site
    refused = add_passkey(local, person, key)
    assert refused.status_code == 400 and "niet toegevoegd" in refused.text
    unnamed = add_passkey(local, person, authenticator(local), name=" ")
    assert unnamed.status_code == 400
    assert local.cli("users", "passkeys", teacher["username"])["passkeys"] == []
    assert audit_events(local, "passkey_added", teacher["id"]) == []


def test_someone_elses_passkey_cannot_be_renamed_or_removed(local, local_school, teacher, person):
    registered(local, person, teacher)
    theirs = local.cli("users", "passkeys", teacher["username"])["passkeys"][0]["id"]
    other = local.user("teacher", local_school)
    with Browser(local) as intruder:
        page = sign_in_to_mijn(local, intruder, other)
        csrf = attributes(page.text, 'data-passkey="register"')["csrf"]
        for path in ("naam", "verwijderen"):
            answer = intruder.http.post(f"{local.issuer}/mijn/beveiliging/passkeys/{theirs}/{path}",
                                        data={"csrf_token": csrf, "name": "Van mij"})
            assert answer.status_code == 404
    assert local.cli("users", "passkeys", teacher["username"])["passkeys"][0]["name"] == "Laptop"


def test_the_command_line_lists_and_removes_passkeys(local, teacher, person):
    registered(local, person, teacher)
    listed = local.cli("users", "passkeys", teacher["username"])
    assert listed["username"] == teacher["username"]
    [passkey] = listed["passkeys"]
    assert passkey["name"] == "Laptop" and passkey["last_used_at"] is None and passkey["transports"] == ["internal"]
    wrong = local.run("users", "passkeys", teacher["username"], "--remove", str(passkey["id"] + 1000), check=False)
    assert wrong.returncode != 0 and wrong.stderr.count("\n") == 1
    removed = local.cli("users", "passkeys", teacher["username"], "--remove", str(passkey["id"]))
    assert removed["removed"] == {"id": passkey["id"], "name": "Laptop"}
    assert local.cli("users", "passkeys", teacher["username"])["passkeys"] == []
    assert len(audit_events(local, "passkey_removed", teacher["id"])) == 1
    nobody = local.run("users", "passkeys", "niemand.hier", check=False)
    assert nobody.returncode != 0 and nobody.stderr.startswith("leerid: ")
