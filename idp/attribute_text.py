"""How people see each attribute: its name in plain words and its value in its minimal, readable form."""
from __future__ import annotations

from idp.web import N_

# "Je voornaam: Lotte" — what the consent page and Mijn leerID call each attribute (DESIGN.md names).
LABELS = {
    "given_name": N_("Je voornaam"),
    "family_name": N_("Je familienaam"),
    "name": N_("Je volledige naam"),
    "preferred_username": N_("Je gebruikersnaam"),
    "email": N_("Je e-mailadres"),
    "birthdate": N_("Je geboortedatum"),
    "age_band": N_("Je leeftijdsgroep"),
    "roles": N_("Wie je bent op school"),
    "school": N_("Je school"),
    "schools": N_("Al je scholen"),
    "class": N_("Je klas"),
}

AGE_BANDS = {"under_13": N_("jonger dan 13 jaar"), "13_to_17": N_("13 tot 17 jaar"), "adult": N_("18 jaar of ouder")}
ROLES = {"pupil": N_("leerling"), "teacher": N_("leerkracht"), "staff": N_("personeel"), "parent": N_("ouder")}


def label(name: str, gettext) -> str:
    return gettext(LABELS[name]) if name in LABELS else name


def shown(name: str, value, gettext) -> str | None:
    """The value as the person reads it; None when the account has none."""
    if value is None or value == []:
        return None
    if name == "age_band":
        return gettext(AGE_BANDS.get(value, value))
    if name == "roles":
        return ", ".join(gettext(ROLES.get(role, role)) for role in value)
    if name == "school":
        return value["name"]
    if name == "schools":
        return ", ".join(school["name"] for school in value)
    if name == "class":
        return value["name"]
    return str(value)


def lines(names, policy, values: dict, language: str, gettext, *, granular: bool = True,
          declined=()) -> list[dict]:
    """What the consent pages list for each attribute: its label, the value that would be sent, why (in the
    page's language, else Dutch), and whether it can be unticked (`granular`: a consent, not an agreement)."""
    found = []
    for name in names:
        rule = policy.rule(name) if policy is not None else None
        found.append({"name": name, "label": label(name, gettext), "value": shown(name, values.get(name), gettext),
                      "why": (rule.why.get(language) or rule.why.get("nl")) if rule else None,
                      "optional": bool(granular and rule and rule.optional), "ticked": name not in declined})
    return found


def purpose(policy, client, language: str) -> str | None:
    texts = policy.purpose if policy is not None else {}
    return texts.get(language) or texts.get("nl") or client.purpose
