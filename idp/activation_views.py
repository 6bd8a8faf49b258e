"""Blueprint "activation": the first-login page where a code from a letter leads to choosing a password.

Also the Dutch words for the password rules (idp/password_rules.py), which Mijn leerID's password page uses too:
a sentence per refusal that says what to do, and the words of the strength hint that idp/static/password.js
shows while the person types.
"""
from __future__ import annotations

from flask import Blueprint, make_response, render_template, request
from flask_babel import gettext

from idp import password_rules as rules
from idp.activation import UNCHANGED, InvalidActivationCode, WeakPassword
from idp.password_rules import PasswordRules, Verdict
from idp.web import N_, services

bp = Blueprint("activation", __name__, url_prefix="/activeren")
MAX_ATTEMPTS = 20  # wrong codes per source address per window

REFUSALS = {
    rules.TOO_LONG: N_("Je wachtwoord is te lang. Gebruik hoogstens %(maximum)s tekens."),
    rules.TOO_SHORT: N_("Je wachtwoord is te kort. Het moet minstens %(minimum)s tekens hebben: typ er nog "
                        "%(missing)s bij."),
    rules.REPEATED: N_("Je wachtwoord is steeds hetzelfde teken of stukje. Dat raadt iemand heel snel. Kies iets "
                       "anders, bijvoorbeeld een zin van een paar woorden."),
    rules.SEQUENCE: N_("Je wachtwoord is een reeks, zoals 12345678 of abcdefgh of de toetsen naast elkaar. Die "
                       "proberen inbrekers eerst. Kies iets anders, bijvoorbeeld een zin van een paar woorden."),
    rules.USERNAME: N_("Je wachtwoord bevat je gebruikersnaam. Die kennen anderen ook. Kies iets anders."),
    rules.NAME: N_("Je wachtwoord is je naam. Die kennen anderen ook. Kies iets wat alleen jij weet."),
    rules.BIRTHDATE: N_("Je wachtwoord is je geboortedatum. Die kennen anderen ook. Kies iets wat alleen jij "
                        "weet."),
    rules.COMMON: N_("Dit wachtwoord staat op een lijst van vaak gebruikte wachtwoorden. Inbrekers proberen die "
                     "eerst. Kies iets anders, bijvoorbeeld een zin van een paar woorden."),
    UNCHANGED: N_("Je nieuwe wachtwoord is hetzelfde als je huidige. Kies een ander wachtwoord."),
}


def refusal(verdict: Verdict) -> str:
    """The sentence for the first reason: what to fix first."""
    return gettext(REFUSALS[verdict.reasons[0]], minimum=verdict.minimum, missing=verdict.missing,
                   maximum=rules.MAX_LENGTH)


def hint_words() -> dict[str, str]:
    """The strength hint's words for password.js ({n}: a number it fills in)."""
    return {
        "weak": gettext("Zwak"), "fair": gettext("Redelijk"), "strong": gettext("Sterk"),
        "short": gettext("nog {n} tekens"), "short_one": gettext("nog 1 teken"),
        "long": gettext("te lang, hoogstens {n} tekens"), "repeated": gettext("steeds hetzelfde teken"),
        "sequence": gettext("een reeks zoals 1234 of abcd"),
        "fair_why": gettext("met nog een paar tekens erbij wordt het sterk"), "strong_why": gettext("goed zo"),
        "staff": gettext("voor leerkrachten en personeel nog {n} tekens"),
        "staff_one": gettext("voor leerkrachten en personeel nog 1 teken"),
        "show": gettext("Toon wachtwoord"),
    }


def password_rules() -> PasswordRules:
    return PasswordRules.from_settings(services().settings)


def _page(status: int = 200, error: str | None = None, code: str = "", wrong: str | None = None,
          minimum: int | None = None):
    """`wrong`: the field the error is about (code or password); `minimum`: the person's own, once the code told."""
    checker = password_rules()
    response = make_response(render_template(
        "activate.html", error=error, code=code, wrong=wrong, minimum=minimum or checker.min_pupil,
        staff_minimum=None if minimum else checker.min_staff, words=hint_words(),
        maximum=rules.MAX_LENGTH), status)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("")
def show():
    return _page()


@bp.post("")
def activate():
    container = services()
    code, password = request.form.get("code", "")[:64], request.form.get("password", "")
    attempts, _ = container.store.count("activation-attempts", request.remote_addr or "unknown",
                                        container.settings.login_window)
    if attempts > MAX_ATTEMPTS:
        return _page(429, gettext("Je hebt te vaak een verkeerde code ingetypt. Wacht een kwartier en probeer "
                                  "dan opnieuw."), code, "code")
    if password != request.form.get("password_again", ""):
        return _page(400, gettext("De twee wachtwoorden zijn niet hetzelfde. Typ ze opnieuw."), code, "password")
    try:
        account = container.activation.activate(code, password, password_rules())
    except WeakPassword as exc:  # the code was right: it does not count as a wrong one
        container.store.uncount("activation-attempts", request.remote_addr or "unknown")
        return _page(400, refusal(exc.verdict), code, "password", exc.verdict.minimum)
    except InvalidActivationCode:
        return _page(400, gettext("Deze code klopt niet, is al gebruikt of is verlopen. Kijk de code op je "
                                  "brief goed na, of vraag je school om een nieuwe brief."), code, "code")
    container.store.uncount("activation-attempts", request.remote_addr or "unknown")
    return render_template("activated.html", username=account.username)
