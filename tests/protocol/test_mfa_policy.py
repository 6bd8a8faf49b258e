"""The second-factor policy and step-up (issue 6, item 3; DESIGN.md Authentication; OIDC Core §3.1.2.1 acr_values,
§3.1.2.6 interaction_required; RFC 8176 amr): teachers and staff (LEERID_MFA_ROLES) set up a code app at their
first login, before any session; a platform asks a second factor with acr_values or its require-mfa setting; a
session that logged in with a password alone is stepped up, never logged in again; prompt=none with an unmet acr
is interaction_required; the school console and the operator's page need a session with a second factor.

Every test makes its own people: codes are used up per account. Browsers made with enrol=False stop at the set-up
page, so that the test walks through it itself.

Clients of this file:
  platform -- confidential, school agreement, default scopes
  strict   -- confidential, school agreement, created with --require-mfa
"""
from __future__ import annotations

import re
import secrets
from datetime import date

import pyotp
import pytest
from sqlalchemy import create_engine, text

from tests.live import LiveProvider, fresh_database, fresh_totp
from tests.protocol.helpers import (
    SECRET,
    SSO_COOKIE,
    Browser,
    authorization_url,
    code_form,
    enrol_form,
    form_to,
    login_form,
    relying_party,
    sign_in,
    verify_id_token,
)

ACR_MFA = "urn:leerid:acr:mfa"
ACR_PWD = "urn:leerid:acr:pwd"
RECOVERY = re.compile(r"<li><code>((?:\d{4} ){4}\d{4})</code></li>")


@pytest.fixture(scope="module")
def platform(provider):
    return provider.client()


@pytest.fixture(scope="module")
def strict(provider):
    client = provider.client("--require-mfa")
    assert client["require_mfa"] is True, client
    return client


@pytest.fixture(scope="module")
def relaxed(tmp_path_factory):
    """A provider of its own with LEERID_MFA_ROLES="" (nobody needs a second factor for their role), a school and a
    platform the school took on."""
    workdir = tmp_path_factory.mktemp("leerid-relaxed")
    with fresh_database(workdir) as url:
        live = LiveProvider(workdir, url, {"LEERID_MFA_ROLES": ""}).start()
        try:
            live.number = live.school()
            live.platform = live.client()
            yield live
        finally:
            live.stop()


def start_url(provider, client, **params) -> str:
    url, *_ = authorization_url(provider, relying_party(provider, client), **params)
    return url


def claims_of(provider, client, login) -> dict:
    return verify_id_token(provider, login.id_token, client["client_id"], nonce=login.nonce)


def secret_of(page) -> pyotp.TOTP:
    found = SECRET.search(page.text)
    assert found, f"no key in the text of {page.url}: {page.text[:300]}"
    return pyotp.TOTP("".join(found.group(1).split()))


def stored_secret(provider, person: dict) -> str | None:
    engine = create_engine(provider.env["LEERID_DATABASE_URL"])
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT secret_encrypted FROM totp_credentials WHERE account_id = :a"),
                                {"a": person["id"]}).scalar()
    finally:
        engine.dispose()


def set_up(browser: Browser, page):
    """Walk the set-up page: a wrong code first, then the right one, the ten recovery codes, and on."""
    assert enrol_form(page) is not None and login_form(page) is None, page.text[:300]
    totp = secret_of(page)
    assert "<svg" in page.text and 'name="csrf_token"' in page.text and page.headers["cache-control"] == "no-store"
    wrong = browser.send(page, enrol_form(page), code="000000" if totp.now() != "000000" else "111111")
    assert wrong.status_code == 400 and 'role="alert"' in wrong.text and enrol_form(wrong) is not None
    assert secret_of(wrong).secret == totp.secret, "the same key waits until its first code"
    codes = browser.send(wrong, enrol_form(wrong), code=fresh_totp(totp.secret))
    assert codes.status_code == 200 and codes.headers["cache-control"] == "no-store", codes.text[:300]
    assert len(set(RECOVERY.findall(codes.text))) == 10, codes.text[:500]
    return totp, browser.submit(codes, form_to(codes, "/enrol/verder"))


def test_a_teacher_without_second_factor_sets_one_up_before_any_session(provider, platform, school):
    teacher = provider.user("teacher", school)
    rp = relying_party(provider, platform)
    url, state, nonce, verifier = authorization_url(provider, rp)
    with Browser(provider, enrol=False) as browser:
        page = browser.login(browser.get(url), teacher)
        assert browser.cookie(SSO_COOKIE) is None, "no session before the second factor"
        assert "gegevens van leerlingen" in page.text and 'lang="nl"' in page.text
        assert stored_secret(provider, teacher) is None, "nothing is stored before the first code"
        totp, done = set_up(browser, page)
        assert stored_secret(provider, teacher) is not None
        callback = browser.callback(done)
    assert callback.params.get("state") == state
    token = rp.fetch_token(code=callback.code, code_verifier=verifier, grant_type="authorization_code",
                           redirect_uri=platform["redirect_uri"])
    claims = verify_id_token(provider, token["id_token"], platform["client_id"], nonce=nonce)
    assert claims["acr"] == ACR_MFA and claims["amr"] == ["pwd", "otp"], claims
    with Browser(provider, totp=lambda: fresh_totp(totp.secret)) as later:  # from now on: the code page
        page = later.get(start_url(provider, platform))
        page = later.follow(later.send_login(page, teacher["username"], teacher["password"]))
        assert code_form(page) is not None and enrol_form(page) is None, page.text[:300]
        again = claims_of(provider, platform, sign_in(provider, later, platform, teacher))
    assert again["acr"] == ACR_MFA


def test_a_pupil_logs_in_with_a_password_alone(provider, platform, school):
    pupil = provider.user("pupil", school)
    with Browser(provider, enrol=False) as browser:
        claims = claims_of(provider, platform, sign_in(provider, browser, platform, pupil))
    assert claims["acr"] == ACR_PWD and claims["amr"] == ["pwd"], claims


def test_no_roles_in_the_setting_no_second_factor_for_teachers(relaxed):
    teacher = relaxed.user("teacher", relaxed.number)
    with Browser(relaxed, enrol=False) as browser:
        claims = claims_of(relaxed, relaxed.platform, sign_in(relaxed, browser, relaxed.platform, teacher))
    assert claims["acr"] == ACR_PWD and claims["amr"] == ["pwd"], claims


def test_a_platform_that_requires_mfa_gets_the_code_page_like_acr_values(provider, platform, strict, school):
    pupil = provider.user("pupil", school)
    with Browser(provider, enrol=False) as browser:
        plain = claims_of(provider, platform, sign_in(provider, browser, platform, pupil))
        assert plain["acr"] == ACR_PWD
        totp = pyotp.TOTP(provider.cli("users", "totp", pupil["username"])["secret"])
        page = browser.get(start_url(provider, strict))
        assert code_form(page) is not None and login_form(page) is None, "a step-up asks only for the code"
        assert strict["name"] in page.text
        browser.totp = lambda: fresh_totp(totp.secret)
        stepped = claims_of(provider, strict, sign_in(provider, browser, strict, None))
        assert stepped["acr"] == ACR_MFA and stepped["amr"] == ["pwd", "otp"], stepped


def test_a_platform_that_requires_mfa_lets_someone_without_one_set_it_up(provider, strict, school):
    pupil = provider.user("pupil", school)
    rp = relying_party(provider, strict)
    url, _, nonce, verifier = authorization_url(provider, rp)
    with Browser(provider, enrol=False) as browser:
        page = browser.login(browser.get(url), pupil)
        assert strict["name"] in page.text and "Nu niet" not in page.text, "no way round what the platform asks"
        _, done = set_up(browser, page)
        callback = browser.callback(done)
    token = rp.fetch_token(code=callback.code, code_verifier=verifier, grant_type="authorization_code",
                           redirect_uri=strict["redirect_uri"])
    claims = verify_id_token(provider, token["id_token"], strict["client_id"], nonce=nonce)
    assert claims["acr"] == ACR_MFA and claims["amr"] == ["pwd", "otp"], claims


def test_the_require_mfa_setting_is_changed_on_the_command_line(provider, school):
    client = provider.client()
    assert provider.cli("clients", "update", client["client_id"], "--require-mfa")["require_mfa"] is True
    pupil = provider.user("pupil", school)
    with Browser(provider, enrol=False) as browser:
        page = browser.login(browser.get(start_url(provider, client)), pupil)
        assert enrol_form(page) is not None, page.text[:300]
    assert provider.cli("clients", "update", client["client_id"], "--no-require-mfa")["require_mfa"] is False
    with Browser(provider, enrol=False) as browser:
        assert claims_of(provider, client, sign_in(provider, browser, client, pupil))["acr"] == ACR_PWD
    refused = provider.run("clients", "update", "no-such-client", "--require-mfa", "--json", check=False)
    assert refused.returncode != 0 and not refused.stdout and refused.stderr.strip()


@pytest.mark.parametrize("asking", ["acr_values", "client", "role"])
def test_prompt_none_with_an_unmet_acr_is_interaction_required(provider, platform, strict, school, tmp_path, asking):
    with Browser(provider, enrol=False) as browser:
        if asking == "role":
            teacher_since_login(provider, browser, tmp_path)
            client, extra = provider.client(), {}  # after the teacher's school: it took the platform on
        else:
            pupil = provider.user("pupil", school)
            assert claims_of(provider, platform, sign_in(provider, browser, platform, pupil))["acr"] == ACR_PWD
            client, extra = (platform, {"acr_values": ACR_MFA}) if asking == "acr_values" else (strict, {})
        quiet = sign_in(provider, browser, client, None, redeem=False, prompt="none", **extra)
    params = quiet.callback.params
    assert params.get("error") == "interaction_required" and "code" not in params, params
    assert params.get("state") == quiet.state and params.get("iss") == provider.issuer, params


def teacher_since_login(provider, browser: Browser, tmp_path) -> dict:
    """Someone of no school logs in with a password alone in `browser`, and then becomes a teacher of a new school
    (its roster names them): the policy meets a session it did not make."""
    birthdate, family = "1985-06-07", f"Laat{secrets.token_hex(3)}"
    person = provider.user("teacher", given_name="Lotte", family_name=family, birthdate=birthdate)
    number = provider.school()
    login = sign_in(provider, browser, provider.client(), person)
    assert verify_id_token(provider, login.id_token, login.rp.client_id)["acr"] == ACR_PWD
    roster = tmp_path / f"roster-{secrets.token_hex(3)}.csv"
    roster.write_text("extern_id;voornaam;familienaam;geboortedatum;rol;klas\n"
                      f"t1;Lotte;{family};{birthdate};leerkracht;\n", encoding="utf-8")
    report = provider.cli("import", "roster", str(roster), "--school", number)
    assert report["matched"] == 1 and not report["rejected"], report
    return person


@pytest.mark.parametrize("has_app", [False, True])
def test_a_password_only_session_of_a_teacher_is_stepped_up_not_logged_in_again(provider, tmp_path, has_app):
    with Browser(provider, enrol=False) as browser:
        teacher = teacher_since_login(provider, browser, tmp_path)
        platform = provider.client()
        before = browser.cookie(SSO_COOKIE)
        if has_app:
            totp = pyotp.TOTP(provider.cli("users", "totp", teacher["username"])["secret"])
        rp = relying_party(provider, platform)
        url, _, nonce, verifier = authorization_url(provider, rp)
        page = browser.get(url)
        assert login_form(page) is None, "stepped up over the session, never logged in again"
        if has_app:
            assert code_form(page) is not None and enrol_form(page) is None, page.text[:300]
            done = browser.follow(browser.send_code(page, fresh_totp(totp.secret)))
        else:
            assert "gegevens van leerlingen" in page.text
            _, done = set_up(browser, page)
        callback = browser.callback(done)
        assert browser.cookie(SSO_COOKIE) not in (None, before), "the session identifier changes at step-up"
    token = rp.fetch_token(code=callback.code, code_verifier=verifier, grant_type="authorization_code",
                           redirect_uri=platform["redirect_uri"])
    claims = verify_id_token(provider, token["id_token"], platform["client_id"], nonce=nonce)
    assert claims["acr"] == ACR_MFA and claims["amr"] == ["pwd", "otp"], claims


def staff(live, *flags: str) -> dict:
    """A staff member of the relaxed provider's school, made by the operator (`leerid users create`)."""
    username, password = f"m{secrets.token_hex(5)}", f"Pw-{secrets.token_urlsafe(12)}"
    out = live.cli("users", "create", "--username", username, "--password", password, "--given-name", "Els",
                   "--family-name", "Wouters", "--role", "staff", "--school", live.number, *flags)
    return dict(out, password=password)


def test_the_console_steps_up_a_password_only_administrator_session(relaxed):
    """LEERID_MFA_ROLES="": the administrator logs in with a password alone; the console still asks a second
    factor over that session (here: setting up a code app), and then opens the page asked for."""
    admin = staff(relaxed, "--school-admin")
    with Browser(relaxed, enrol=False) as browser:
        mine = browser.login(browser.get(f"{relaxed.issuer}/mijn"), admin)
        assert str(mine.url) == f"{relaxed.issuer}/mijn", (mine.url, mine.text[:300])
        page = browser.get(f"{relaxed.issuer}/beheer/{relaxed.number}/personen")
        assert login_form(page) is None and enrol_form(page) is not None, page.text[:300]
        _, done = set_up(browser, page)
        assert done.status_code == 200 and str(done.url) == f"{relaxed.issuer}/beheer/{relaxed.number}/personen"


def test_the_console_asks_the_code_of_a_password_only_session_with_an_app(relaxed):
    admin = staff(relaxed, "--school-admin")
    with Browser(relaxed, enrol=False) as browser:
        assert browser.login(browser.get(f"{relaxed.issuer}/mijn"), admin).status_code == 200
        totp = pyotp.TOTP(relaxed.cli("users", "totp", admin["username"])["secret"])  # set up since
        page = browser.get(f"{relaxed.issuer}/beheer")
        assert code_form(page) is not None and login_form(page) is None and enrol_form(page) is None
        done = browser.follow(browser.send_code(page, fresh_totp(totp.secret)))
        assert done.status_code == 200 and str(done.url) == f"{relaxed.issuer}/beheer/{relaxed.number}"


def test_the_operator_page_steps_up_too(relaxed):
    operator = staff(relaxed)
    relaxed.cli("users", "operator", operator["username"])
    with Browser(relaxed, enrol=False) as browser:
        browser.login(browser.get(f"{relaxed.issuer}/mijn"), operator)
        page = browser.get(f"{relaxed.issuer}/operator")
        assert enrol_form(page) is not None and login_form(page) is None, page.text[:300]
        _, done = set_up(browser, page)
        assert done.status_code == 200 and str(done.url) == f"{relaxed.issuer}/operator"


def test_a_pupil_at_the_console_is_not_asked_to_set_anything_up(relaxed):
    pupil = relaxed.user("pupil", relaxed.number, birthdate=date(date.today().year - 15, 1, 1).isoformat())
    with Browser(relaxed, enrol=False) as browser:
        browser.login(browser.get(f"{relaxed.issuer}/mijn"), pupil)
        page = browser.get(f"{relaxed.issuer}/beheer")
        assert page.status_code == 403 and enrol_form(page) is None


def test_the_setting_names_the_roles():
    from config.settings import ConfigError, Settings

    assert Settings.from_env({}).mfa_roles == ("teacher", "staff")
    assert Settings.from_env({"LEERID_MFA_ROLES": ""}).mfa_roles == ()
    assert Settings.from_env({"LEERID_MFA_ROLES": " Staff, pupil,staff "}).mfa_roles == ("staff", "pupil")
    with pytest.raises(ConfigError, match="LEERID_MFA_ROLES"):
        Settings.from_env({"LEERID_MFA_ROLES": "teachers"})


# --- the set-up is for a first second factor, and for the password that began it ---------------------------------


def recovery_codes(provider, person: dict) -> int:
    engine = create_engine(provider.env["LEERID_DATABASE_URL"])
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM recovery_codes WHERE account_id = :a"),
                                {"a": person["id"]}).scalar_one()
    finally:
        engine.dispose()


def new_password(provider, person: dict) -> str:
    """The person's password changes, as when their school resets it and they choose a new one."""
    from idp.crypto import Passwords

    password = f"Pw-{secrets.token_urlsafe(12)}"
    engine = create_engine(provider.env["LEERID_DATABASE_URL"])
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE accounts SET password_hash = :h WHERE id = :a"),
                         {"h": Passwords(memory_kib=1024, time_cost=1, parallelism=1).hash(password),
                          "a": person["id"]})
    finally:
        engine.dispose()
    return password


def test_a_second_factor_set_up_meanwhile_is_not_replaced_by_the_login_set_up(provider, platform, school):
    """Someone else (here the helpdesk) set up a code app for the person while the set-up page was open: its first
    code stores nothing, and the person logs in again, now with the code of that app."""
    teacher = provider.user("teacher", school)
    with Browser(provider, enrol=False) as browser:
        page = browser.login(browser.get(start_url(provider, platform)), teacher)
        waiting = secret_of(page)
        meanwhile = provider.cli("users", "totp", teacher["username"])["secret"]
        before, records = stored_secret(provider, teacher), provider.audit_records()
        refused = browser.send(page, enrol_form(page), code=fresh_totp(waiting.secret))
        assert refused.status_code == 409 and login_form(refused) is not None, refused.text[:300]
        assert "Je account heeft intussen al een tweede stap" in refused.text and 'role="alert"' in refused.text
        assert browser.cookie(SSO_COOKIE) is None
        assert stored_secret(provider, teacher) == before and recovery_codes(provider, teacher) == 0
        assert provider.audit_records() == records
        page = browser.follow(browser.send_login(refused, teacher["username"], teacher["password"]))
        assert code_form(page) is not None and enrol_form(page) is None, page.text[:300]
        done = browser.follow(browser.send_code(page, fresh_totp(meanwhile)))
        assert browser.callback(done).code


@pytest.mark.parametrize("when", ["first code", "after the recovery codes"])
def test_a_password_changed_during_the_set_up_sends_the_person_back_to_the_login(provider, platform, school, when):
    teacher = provider.user("teacher", school)
    with Browser(provider, enrol=False) as browser:
        page = browser.login(browser.get(start_url(provider, platform)), teacher)
        waiting = secret_of(page)
        form, values = enrol_form(page), {"code": fresh_totp(waiting.secret)}
        if when == "after the recovery codes":
            page = browser.send(page, form, **values)
            assert page.status_code == 200 and stored_secret(provider, teacher) is not None
            form, values = form_to(page, "/enrol/verder"), {}
        stored, records = stored_secret(provider, teacher), provider.audit_records()
        password = new_password(provider, teacher)
        refused = browser.send(page, form, **values)
        assert refused.status_code == 409 and login_form(refused) is not None, refused.text[:300]
        assert "Je wachtwoord is intussen veranderd" in refused.text
        assert browser.cookie(SSO_COOKIE) is None, "no session for the password checked before"
        assert stored_secret(provider, teacher) == stored and provider.audit_records() == records
        assert login_form(browser.follow(browser.send_login(refused, teacher["username"], teacher["password"])))
        page = browser.follow(browser.send_login(refused, teacher["username"], password))
        if when == "first code":  # nothing was set up: the set-up again
            assert enrol_form(page) is not None, page.text[:300]
        else:  # the code app set up before counts
            assert code_form(page) is not None and enrol_form(page) is None, page.text[:300]
