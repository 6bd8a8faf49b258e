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
