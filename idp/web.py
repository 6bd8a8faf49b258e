"""Helpers shared by the blueprints: the container, cookies, the browser binding, error pages."""
from __future__ import annotations

from flask import current_app, make_response, render_template, session

from idp.crypto import random_token
from idp.wiring import Container

SSO_COOKIE = "leerid_sso"


def N_(text: str) -> str:
    """Marks a message for the catalogue; it is translated where it is shown."""
    return text


# What people see for each error they can hit: (title, what to do), in Dutch by default.
ERRORS = {
    "unknown_client": (
        N_("Dit platform kennen we niet"),
        N_("Het platform dat je wilde openen, is niet bij leerID aangemeld. Ga terug en vraag je leerkracht "
           "of de helpdesk van het platform om hulp.")),
    "bad_redirect_uri": (
        N_("Deze aanmelding klopt niet"),
        N_("Het platform vroeg om je terug te sturen naar een adres dat we niet kennen. Daarom sturen we je "
           "nergens heen. Ga terug naar het platform en probeer het opnieuw.")),
    "bad_request": (
        N_("Deze aanvraag klopt niet"),
        N_("We konden deze aanvraag niet lezen. Ga terug naar het platform en probeer het opnieuw.")),
    "expired": (
        N_("Je aanmelding duurde te lang"),
        N_("Voor je veiligheid stopt een aanmelding na tien minuten. Ga terug naar het platform en begin "
           "opnieuw.")),
    "not_found": (
        N_("Deze pagina bestaat niet"),
        N_("Controleer het adres, of ga terug naar de vorige pagina.")),
    "method": (
        N_("Dat kan hier niet"),
        N_("Deze pagina werkt niet zo. Ga terug naar de vorige pagina.")),
    "too_large": (
        N_("Deze aanvraag is te groot"),
        N_("Ga terug naar het platform en probeer het opnieuw.")),
    "unavailable": (
        N_("leerID is even niet bereikbaar"),
        N_("Er loopt iets mis aan onze kant. Wacht een minuutje en probeer het dan opnieuw.")),
    "server": (
        N_("Er ging iets mis"),
        N_("Er ging iets mis aan onze kant. Probeer het opnieuw. Lukt het niet, vraag dan hulp aan je "
           "leerkracht.")),
}


def services() -> Container:
    return current_app.extensions["leerid"]


def oauth_server():
    return current_app.extensions["leerid.server"]


def binding() -> str:
    """A random value that marks this browser, kept in the signed form cookie."""
    if "bid" not in session:
        session["bid"] = random_token(16)
    return session["bid"]


def error_page(kind: str, status: int):
    from flask_babel import gettext

    title, advice = ERRORS[kind]
    html = render_template("error.html", title=gettext(title), advice=gettext(advice), status=status)
    return make_response(html, status)


def set_sso_cookie(response, value: str | None):
    secure = services().settings.secure_cookies
    if value is None:
        response.delete_cookie(SSO_COOKIE, path="/", secure=secure, httponly=True, samesite="Lax")
    else:
        response.set_cookie(SSO_COOKIE, value, path="/", secure=secure, httponly=True, samesite="Lax")
    return response
