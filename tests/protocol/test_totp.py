"""TOTP as the second factor, and step-up with acr_values (DESIGN.md Authentication; SECURITY.md pyotp; RFC 8176;
OIDC Core §3.1.2.1 acr_values and prompt=none).

Every test makes its own teacher: codes are used up and failures throttled per account.

Clients of this file:
  platform -- confidential, school agreement, default scopes
"""
from __future__ import annotations

import time

import pyotp
import pytest
from sqlalchemy import create_engine, text

from tests.protocol.helpers import (
    SSO_COOKIE,
    Browser,
    authorization_url,
    code_form,
    discovery,
    enrol_form,
    login_form,
    relying_party,
    sign_in,
    verify_id_token,
)

ACR_MFA = "urn:leerid:acr:mfa"
ACR_PWD = "urn:leerid:acr:pwd"
MAX_FAILURES = 5  # config.settings.Settings.login_max_failures


@pytest.fixture(scope="module")
def platform(provider):
    return provider.client()


def enrol(provider, user: dict) -> pyotp.TOTP:
    out = provider.cli("users", "totp", user["username"])
    assert set(out) >= {"secret", "otpauth_uri"}, out
    assert out["otpauth_uri"].startswith("otpauth://totp/leerID:") and "issuer=leerID" in out["otpauth_uri"]
    return pyotp.TOTP(out["secret"])


@pytest.fixture
def teacher(provider, school):
    """A teacher of this test alone, with TOTP enrolled."""
    user = provider.user("teacher", school)
    return user, enrol(provider, user)


def wrong_code(totp: pyotp.TOTP) -> str:
    valid = {totp.at(time.time() + offset) for offset in (-60, -30, 0, 30, 60)}
    return next(c for c in (f"{n:06d}" for n in range(123456, 999999, 7919)) if c not in valid)


def sign_in_url(provider, platform, **params) -> str:
    url, *_ = authorization_url(provider, relying_party(provider, platform), **params)
    return url


def claims_of(provider, platform, login) -> dict:
    return verify_id_token(provider, login.id_token, platform["client_id"], nonce=login.nonce)


def test_discovery_lists_mfa_acr(provider):
    assert {ACR_PWD, ACR_MFA} <= set(discovery(provider)["acr_values_supported"])


def test_secret_is_stored_encrypted(provider, teacher):
    user, totp = teacher
    engine = create_engine(provider.env["LEERID_DATABASE_URL"])
    try:
        with engine.connect() as conn:
            stored = conn.execute(text("SELECT secret_encrypted FROM totp_credentials WHERE account_id = :a"),
                                  {"a": user["id"]}).scalar_one()
    finally:
        engine.dispose()
    assert totp.secret not in stored and stored.startswith("v1:")


def test_unknown_username_is_refused(provider):
    proc = provider.run("users", "totp", "niemand-hier", "--json", check=False)
    assert proc.returncode != 0 and not proc.stdout and proc.stderr.strip()


def test_code_page_comes_after_the_password_before_any_session(provider, platform, teacher):
    user, _ = teacher
    with Browser(provider) as browser:
        page = browser.get(sign_in_url(provider, platform))
        page = browser.follow(browser.send_login(page, user["username"], user["password"]))
        assert code_form(page) is not None, page.text[:300]
        assert login_form(page) is None
        assert 'name="csrf_token"' in page.text and 'lang="nl"' in page.text
        assert browser.cookie(SSO_COOKIE) is None, "no SSO session before the second factor"


def test_totp_login_gives_pwd_otp_amr_and_mfa_acr(provider, platform, teacher):
    user, totp = teacher
    with Browser(provider, totp=totp.now) as browser:
        claims = claims_of(provider, platform, sign_in(provider, browser, platform, user))
    assert {"pwd", "otp"} <= set(claims["amr"]), claims
    assert claims["acr"] == ACR_MFA, claims


def test_code_is_accepted_once(provider, platform, teacher):
    user, totp = teacher
    code = totp.now()
    with Browser(provider, totp=lambda: code) as first:
        sign_in(provider, first, platform, user)
    with Browser(provider) as second:
        page = second.get(sign_in_url(provider, platform))
        page = second.follow(second.send_login(page, user["username"], user["password"]))
        response = second.send_code(page, code)
        assert response.status_code == 401, response.status_code
        assert code_form(response) is not None and 'role="alert"' in response.text
        assert second.cookie(SSO_COOKIE) is None


def test_wrong_codes_are_throttled_even_the_right_one(provider, platform, teacher):
    user, totp = teacher
    with Browser(provider) as browser:
        page = browser.get(sign_in_url(provider, platform))
        page = browser.follow(browser.send_login(page, user["username"], user["password"]))
        for _ in range(MAX_FAILURES):
            page = browser.send_code(page, wrong_code(totp))
            assert page.status_code == 401, page.status_code
        page = browser.send_code(page, totp.now())
        assert page.status_code == 429, page.status_code
        assert code_form(page) is not None and 'role="alert"' in page.text
        assert browser.cookie(SSO_COOKIE) is None, "a throttled attempt never starts a session"
    with Browser(provider) as again:  # the right password again does not reset the code's count
        page = again.get(sign_in_url(provider, platform))
        page = again.follow(again.send_login(page, user["username"], user["password"]))
        assert again.send_code(page, totp.now()).status_code == 429


def test_acr_values_mfa_steps_up_a_password_session(provider, platform, school):
    user = provider.user("pupil", school)  # a role that needs no second factor (LEERID_MFA_ROLES)
    with Browser(provider) as browser:
        first = claims_of(provider, platform, sign_in(provider, browser, platform, user))
        assert first["acr"] == ACR_PWD and first["amr"] == ["pwd"], first
        totp = enrol(provider, user)  # enrolled since: this session has no second factor
        quiet = sign_in(provider, browser, platform, None, redeem=False, prompt="none", acr_values=ACR_MFA)
        assert quiet.callback.params.get("error") == "interaction_required", quiet.callback.params  # §3.1.2.6
        assert quiet.callback.params.get("state") == quiet.state and quiet.callback.params.get("iss")
        before = browser.cookie(SSO_COOKIE)
        browser.totp = totp.now
        stepped = claims_of(provider, platform, sign_in(provider, browser, platform, None, acr_values=ACR_MFA))
        assert stepped["acr"] == ACR_MFA and {"pwd", "otp"} <= set(stepped["amr"]), stepped
        assert browser.cookie(SSO_COOKIE) not in (None, before), "the session identifier changes at step-up"
        browser.totp = None  # the session now satisfies mfa: no page at all
        again = claims_of(provider, platform, sign_in(provider, browser, platform, None, acr_values=ACR_MFA))
        assert again["acr"] == ACR_MFA


def test_pupil_without_second_factor_never_gets_mfa_acr(provider, platform, school):
    """No second factor, and the platform asks for one: leerID offers to set up a code app (anyone may), never a
    session or an mfa acr without it (tests/protocol/test_mfa_policy.py follows the set-up through)."""
    pupil = provider.user("pupil", school)
    with Browser(provider, enrol=False) as browser:
        page = browser.login(browser.get(sign_in_url(provider, platform, acr_values=ACR_MFA)), pupil)
        assert enrol_form(page) is not None and browser.cookie(SSO_COOKIE) is None, page.text[:300]
    with Browser(provider, enrol=False) as browser:
        plain = claims_of(provider, platform, sign_in(provider, browser, platform, pupil))
        assert plain["acr"] == ACR_PWD and plain["amr"] == ["pwd"], plain
        quiet = sign_in(provider, browser, platform, None, redeem=False, prompt="none", acr_values=ACR_MFA)
        params = quiet.callback.params
        assert params.get("error") == "interaction_required" and "code" not in params, params
        assert params.get("state") == quiet.state and params.get("iss") == provider.issuer, params
