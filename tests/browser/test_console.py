"""The school console (/beheer) in headless Chromium: an administrator's work from login to printed letter, and
axe-core on every console page, in Dutch and in English."""
from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import assert_accessible, log_in
from tests.live import running_provider
from tests.protocol.helpers import Browser, parse_forms

pytestmark = pytest.mark.browser


@dataclass
class Setup:
    a: str  # school numbers
    b: str
    class_a: str
    admin: dict  # administrator of both schools
    admin_a: dict  # administrator of A only


def create(provider, number: str, role: str, given: str, family: str, *extra: str) -> dict:
    username, password = f"b{role[:3]}{secrets.token_hex(4)}", f"Pw-{secrets.token_urlsafe(12)}"
    out = provider.cli("users", "create", "--username", username, "--password", password, "--given-name", given,
                       "--family-name", family, "--role", role, "--school", number, *extra)
    return dict(out, password=password, given_name=given, family_name=family)


@pytest.fixture(scope="module")
def provider(tmp_path_factory):
    """A provider of this module's own: the platforms page lists every platform there is, and by the time this
    module runs the shared provider has hundreds (axe-core would read them all, on every check)."""
    with running_provider(tmp_path_factory.mktemp("console")) as live:
        yield live


@pytest.fixture(scope="module")
def setup(provider, tmp_path_factory) -> Setup:
    """Schools A and B; an administrator of both (on B's roster too, then appointed by B's administrator)."""
    a, b, tag = provider.school(), provider.school(), secrets.token_hex(3)
    class_a = f"3A{tag}"
    admin = create(provider, a, "staff", "Hanne", f"Beheer{tag}", "--school-admin", "--birthdate", "1979-09-09")
    admin_a = create(provider, a, "staff", "Jonas", f"Alleen{tag}", "--school-admin")
    roster = tmp_path_factory.mktemp("console") / "roster.csv"
    roster.write_text("extern_id;voornaam;familienaam;geboortedatum;rol;klas\n"
                      f"s1;Hanne;Beheer{tag};1979-09-09;personeel;\n"
                      f"p1;Wout;Bschool{tag};2013-03-03;leerling;5B\n", encoding="utf-8")
    provider.cli("import", "roster", str(roster), "--school", b)
    [held] = provider.cli("import", "reviews", "--school", b)["reviews"]  # Hanne works at A: the helpdesk decides
    provider.cli("import", "resolve", str(held["id"]), "--username", admin["username"])
    admin_b = create(provider, b, "staff", "Ines", f"Bbeheer{tag}", "--school-admin")  # after: not on the roster
    with Browser(provider) as http:
        http.login(http.get(f"{provider.issuer}/beheer"), admin_b)
        person_page = http.get(f"{provider.issuer}/beheer/{b}/personen/{admin['id']}")
        token = next(f.fields["csrf_token"] for f in parse_forms(person_page.text) if "csrf_token" in f.fields)
        appointed = http.http.post(f"{provider.issuer}/beheer/{b}/personen/{admin['id']}/beheerder",
                                   data={"csrf_token": token})
        assert appointed.status_code == 303, appointed.text[:300]
    return Setup(a, b, class_a, admin, admin_a)


def pupil_of(provider, setup: Setup) -> dict:
    return create(provider, setup.a, "pupil", "Mila", f"Leerling{secrets.token_hex(3)}", "--class", setup.class_a)


def open_console(page, provider, user: dict, **query: str) -> None:
    suffix = "?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else ""
    page.goto(f"{provider.issuer}/beheer{suffix}")
    log_in(page, user)


def heading(page, name) -> None:
    expect(page.get_by_role("heading", level=1)).to_have_text(name)


def test_reset_password_letter_code_works_at_activeren(person, provider, setup):
    pupil = pupil_of(provider, setup)
    page = person.page
    open_console(page, provider, setup.admin_a)
    heading(page, f"Testschool {setup.a}")
    page.get_by_label("Naam of gebruikersnaam").fill(pupil["family_name"])
    page.get_by_role("button", name="Zoeken").click()
    page.get_by_role("link", name=f"{pupil['family_name']}, Mila").click()
    heading(page, f"Mila {pupil['family_name']}")
    page.get_by_role("button", name="Wachtwoord opnieuw instellen").click()
    code = page.locator(".letter .code").inner_text()
    assert re.fullmatch(r"[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}", code), code
    expect(page.locator(".letter .username")).to_have_text(pupil["username"])

    chosen = "mijn-nieuwe-zin-" + secrets.token_hex(3)
    fresh = person.context.browser.new_context(locale="nl-BE")
    try:
        other = fresh.new_page()
        other.goto(f"{provider.issuer}/activeren")
        other.fill("input[name=code]", code)
        other.fill("input[name=password]", chosen)
        other.fill("input[name=password_again]", chosen)
        other.click("button[type=submit]")
        expect(other.get_by_role("heading", level=1)).to_have_text("Je account is klaar")
        open_console(other, provider, dict(pupil, password=chosen))  # logs in; a pupil administers nothing
        heading(other, "Je bent geen schoolbeheerder")
        assert_accessible(other, "not-an-administrator page")
    finally:
        fresh.close()


def test_deactivate_then_reactivate(person, provider, setup):
    pupil = pupil_of(provider, setup)
    page = person.page
    open_console(page, provider, setup.admin_a)
    page.goto(f"{provider.issuer}/beheer/{setup.a}/personen/{pupil['id']}")
    page.get_by_role("button", name="Account uitschakelen").click()
    expect(page.get_by_role("status")).to_contain_text("is uitgeschakeld")
    expect(page.locator(".details")).to_contain_text("Uitgeschakeld: kan zich niet aanmelden")
    assert_accessible(page, "person page after deactivation")
    page.get_by_role("button", name="Account weer inschakelen").click()
    expect(page.get_by_role("status")).to_contain_text("werkt weer")
    expect(page.locator(".details")).to_contain_text("Actief")
    assert provider.cli("users", "show", pupil["username"])["active"] is True


def test_class_page_prints_letters(person, provider, setup):
    class_name = f"6C{secrets.token_hex(3)}"
    pupils = [create(provider, setup.a, "pupil", "Noor", f"Klas{secrets.token_hex(3)}", "--class", class_name)
              for _ in range(2)]
    page = person.page
    open_console(page, provider, setup.admin_a)
    page.get_by_role("link", name="Klassen", exact=True).first.click()
    heading(page, "Klassen")
    page.get_by_role("link", name=class_name).click()
    heading(page, f"Klas {class_name}")
    expect(page.get_by_role("table")).to_contain_text(pupils[1]["username"])
    page.get_by_role("button", name="Brieven afdrukken").click()  # by default: only who has no password yet
    expect(page.get_by_role("status")).to_contain_text("Aantal brieven: 0")
    expect(page.locator(".letter")).to_have_count(0)
    page.get_by_role("link", name="Terug naar schoolbeheer").click()
    page.get_by_label("Iedereen in de klas").check()
    page.get_by_role("button", name="Brieven afdrukken").click()
    expect(page.locator(".letter")).to_have_count(2)
    assert sorted(page.locator(".letter .username").all_inner_texts()) == sorted(p["username"] for p in pupils)
    assert len(set(page.locator(".letter .code").all_inner_texts())) == 2


def test_an_administrator_of_two_schools_switches(person, provider, setup):
    page = person.page
    open_console(page, provider, setup.admin)
    heading(page, "Kies een school")
    page.get_by_role("link", name=f"Testschool {setup.a}").click()
    heading(page, f"Testschool {setup.a}")
    page.get_by_role("link", name="Andere school kiezen").click()
    page.get_by_role("link", name=f"Testschool {setup.b}").click()
    heading(page, f"Testschool {setup.b}")
    page.get_by_role("link", name="Personen", exact=True).click()
    expect(page.get_by_role("table")).to_contain_text("Wout")


def visit_every_page(person, provider, setup: Setup, lang: str, words: dict) -> None:
    """Chooser, overview, search results, person, classes, class, letters, 404: axe-core on each."""
    page = person.page
    pupil = pupil_of(provider, setup)
    open_console(page, provider, setup.admin, lang=lang)
    expect(page.locator("html")).to_have_attribute("lang", lang)
    assert_accessible(page, f"school chooser ({lang})")
    page.get_by_role("link", name=f"Testschool {setup.a}").click()
    assert_accessible(page, f"school overview ({lang})")
    page.get_by_label(words["search_label"]).fill(pupil["family_name"])
    page.get_by_role("button", name=words["search"]).click()
    expect(page.get_by_role("table")).to_contain_text(pupil["username"])
    assert_accessible(page, f"search results ({lang})")
    page.get_by_role("link", name=f"{pupil['family_name']}, Mila").click()
    assert_accessible(page, f"person page ({lang})")
    page.get_by_role("link", name=words["classes"], exact=True).first.click()
    assert_accessible(page, f"classes page ({lang})")
    page.get_by_role("link", name=setup.class_a).click()
    assert_accessible(page, f"class page ({lang})")
    page.get_by_label(words["everyone"]).check()
    page.get_by_role("button", name=words["print"]).click()
    expect(page.locator(".letter").first).to_be_visible()
    assert_accessible(page, f"letters page ({lang})")
    response = page.goto(f"{provider.issuer}/beheer/{setup.a}/personen/{secrets.token_hex(18)}")
    assert response.status == 404 and response.headers["cache-control"] == "no-store"
    assert_accessible(page, f"404 page ({lang})")


def test_every_console_page_is_accessible_in_dutch(person, provider, setup):
    visit_every_page(person, provider, setup, "nl", {
        "search_label": "Naam of gebruikersnaam", "search": "Zoeken", "classes": "Klassen",
        "everyone": "Iedereen in de klas", "print": "Brieven afdrukken"})


def test_every_console_page_is_accessible_in_english(english_person, provider, setup):
    visit_every_page(english_person, provider, setup, "en", {
        "search_label": "Name or username", "search": "Search", "classes": "Classes",
        "everyone": "Everyone in the class", "print": "Print letters"})
    page = english_person.page
    page.goto(f"{provider.issuer}/beheer/{setup.a}")
    heading(page, f"Testschool {setup.a}")
    expect(page.get_by_role("navigation", name="School console")).to_contain_text("Choose another school")


def test_not_an_administrator_page_in_english(english_person, provider, setup):
    teacher = create(provider, setup.a, "teacher", "Lien", f"Leraar{secrets.token_hex(3)}")
    page = english_person.page
    open_console(page, provider, teacher)
    heading(page, "You are not a school administrator")
    assert_accessible(page, "not-an-administrator page (en)")


def turn_a_platform_on_and_off(person, provider, setup: Setup, lang: str, words: dict) -> None:
    """The platforms page: a missing agreement reference is refused at its field; with one, the platform is on;
    then off again. axe-core on each state. An administrator of its own: the module's administrators have logged in
    so often by now that a fresh code of their code app means waiting for the next 30 s step."""
    name = provider.client("--basis", "school-agreement", activate=False)["name"]
    admin = create(provider, setup.a, "staff", "Lien", f"Platform{secrets.token_hex(3)}", "--school-admin")
    page = person.page
    open_console(page, provider, admin, lang=lang)
    page.get_by_role("link", name=words["platforms"], exact=True).click()
    heading(page, words["platforms"])
    assert_accessible(page, f"platforms page ({lang})")
    platform = page.get_by_role("region", name=name)
    expect(platform).to_contain_text(words["not_used"])
    platform.get_by_role("button", name=words["on"].format(name)).click()
    field = page.get_by_role("region", name=name).get_by_label(words["agreement"])
    expect(page.get_by_role("region", name=name).get_by_role("alert")).to_contain_text(words["missing"])
    expect(field).to_have_attribute("aria-invalid", "true")
    assert_accessible(page, f"platforms page with a refused form ({lang})")
    field.fill("VWO-2026-17")
    page.get_by_role("region", name=name).get_by_role("button", name=words["on"].format(name)).click()
    expect(page.get_by_role("status")).to_contain_text(words["done_on"])
    expect(page.get_by_role("region", name=name)).to_contain_text("VWO-2026-17")
    assert_accessible(page, f"platforms page with a platform on ({lang})")
    page.get_by_role("region", name=name).get_by_role("button", name=words["off"].format(name)).click()
    expect(page.get_by_role("status")).to_contain_text(words["done_off"])
    expect(page.get_by_role("region", name=name)).to_contain_text(words["ended"])


def test_platforms_page_in_dutch(person, provider, setup):
    turn_a_platform_on_and_off(person, provider, setup, "nl", {
        "platforms": "Platformen", "not_used": "Je school gebruikt dit platform niet.", "on": "{} aanzetten",
        "off": "{} uitzetten", "agreement": "Naam of nummer van de verwerkersovereenkomst",
        "missing": "Vul de naam of het nummer van de verwerkersovereenkomst in.", "done_on": "staat nu aan",
        "done_off": "staat nu uit", "ended": "uitgezet op"})


def test_platforms_page_in_english(english_person, provider, setup):
    turn_a_platform_on_and_off(english_person, provider, setup, "en", {
        "platforms": "Platforms", "not_used": "Your school does not use this platform.", "on": "Turn on {}",
        "off": "Turn off {}", "agreement": "Name or number of the data processing agreement",
        "missing": "Fill in the name or number of the data processing agreement.", "done_on": "is now on",
        "done_off": "is now off", "ended": "turned this platform off on"})
