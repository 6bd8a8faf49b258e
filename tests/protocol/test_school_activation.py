"""A school-agreement platform serves a school's people only after the school activated it
(`leerid clients activate CLIENT_ID --school N`, DESIGN.md); before, a Dutch page and access_denied."""
from __future__ import annotations

import html
import re
import secrets
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.protocol.helpers import Browser, authorize_url, parse_forms, sign_in


@pytest.fixture
def unactivated(provider):
    """A school-agreement platform no school took on yet."""
    return provider.client("--basis", "school-agreement", activate=False)


def refused_page(provider, browser: Browser, client: dict, user: dict, **params):
    page = browser.login(browser.get(authorize_url(provider, client, **params)), user)
    assert page.status_code == 403, (page.status_code, page.text[:300])
    assert "Je school gebruikt dit platform nog niet" in page.text
    assert "code=" not in page.text
    return page


def test_a_pupil_of_a_school_that_did_not_activate_it_is_refused(provider, school, unactivated):
    pupil = provider.user("pupil", school)
    state = secrets.token_urlsafe(8)
    with Browser(provider) as browser:
        page = refused_page(provider, browser, unactivated, pupil, state=state)
        [back] = [html.unescape(h) for h in re.findall(r'href="([^"]+)"', page.text)
                  if h.startswith(unactivated["redirect_uri"])]
        query = {k: v[0] for k, v in parse_qs(urlsplit(back).query).items()}
        assert query == {"error": "access_denied", "error_description": query["error_description"], "state": state,
                         "iss": provider.issuer}
        silent = browser.authorize(authorize_url(provider, unactivated, prompt="none"), consent=None)
        assert silent.params["error"] == "access_denied" and "code" not in silent.params


def test_after_activation_the_pupil_gets_a_code(provider, school, unactivated):
    pupil = provider.user("pupil", school)
    activated = provider.cli("clients", "activate", unactivated["client_id"], "--school", school,
                             "--agreement", "VWO-2026-17")
    assert activated["activations"][0]["agreement"] == "VWO-2026-17"
    with Browser(provider) as browser:
        login = sign_in(provider, browser, unactivated, pupil)
    assert login.token["id_token"]


def test_one_activating_school_of_a_teacher_is_enough(provider, school, unactivated):
    other = provider.school()
    teacher = provider.user("teacher", other)
    with Browser(provider) as browser:
        refused_page(provider, browser, unactivated, teacher)
    provider.cli("clients", "activate", unactivated["client_id"], "--school", other)
    with Browser(provider) as browser:
        assert sign_in(provider, browser, unactivated, teacher).token["id_token"]


def test_form_post_gets_a_form_back_to_the_platform(provider, school, unactivated):
    pupil = provider.user("pupil", school)
    with Browser(provider) as browser:
        page = refused_page(provider, browser, unactivated, pupil, response_mode="form_post", state="s1")
    [form] = [f for f in parse_forms(page.text) if f.action == unactivated["redirect_uri"]]
    assert form.method == "post" and form.fields["error"] == "access_denied" and form.fields["state"] == "s1"


def test_consent_platforms_and_people_of_no_school_need_no_activation(provider, school):
    consent = provider.client("--basis", "consent", activate=False)
    with Browser(provider) as browser:
        assert sign_in(provider, browser, consent, provider.user("pupil", school)).token["id_token"]
    agreement = provider.client("--basis", "school-agreement", activate=False)
    with Browser(provider) as browser:  # a parent belongs to no school: no school refuses them
        assert sign_in(provider, browser, agreement, provider.user("parent")).token["id_token"]


def test_activation_is_recorded_once_and_bad_input_writes_nothing(provider, school, unactivated):
    before = provider.audit_records()
    provider.cli("clients", "activate", unactivated["client_id"], "--school", school)
    provider.cli("clients", "activate", unactivated["client_id"], "--school", school)
    assert provider.audit_records() == before + 1, "activating twice records once"
    for args in (("no-such-client", "--school", school), (unactivated["client_id"], "--school", "99999999"),
                 (unactivated["client_id"], "--school", school, "--school", "99999999")):
        proc = provider.run("clients", "activate", *args, "--json", check=False)
        assert proc.returncode != 0 and len(proc.stderr.strip().splitlines()) == 1 and proc.stdout == ""
    assert provider.audit_records() == before + 1
