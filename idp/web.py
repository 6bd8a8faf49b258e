"""Helpers shared by the blueprints: the container, cookies, the browser binding, error pages."""
from __future__ import annotations

from flask import current_app, make_response, render_template, session

from idp.crypto import random_token
from idp.wiring import Container

SSO_COOKIE = "leerid_sso"

# What people see for each error they can hit: (title, what to do), in Dutch by default.
ERRORS = {
    "unknown_client": ("Dit platform kennen we niet",
                       "Het platform dat je wilde openen, is niet bij leerID aangemeld. Ga terug en vraag je "
                       "leerkracht of de helpdesk van het platform om hulp."),
    "bad_redirect_uri": ("Deze aanmelding klopt niet",
                         "Het platform vroeg om je terug te sturen naar een adres dat we niet kennen. Daarom "
                         "sturen we je nergens heen. Ga terug naar het platform en probeer het opnieuw."),
    "bad_request": ("Deze aanvraag klopt niet",
                    "We konden deze aanvraag niet lezen. Ga terug naar het platform en probeer het opnieuw."),
    "expired": ("Je aanmelding duurde te lang",
                "Voor je veiligheid stopt een aanmelding na tien minuten. Ga terug naar het platform en "
                "begin opnieuw."),
    "not_found": ("Deze pagina bestaat niet", "Controleer het adres, of ga terug naar de vorige pagina."),
    "method": ("Dat kan hier niet", "Deze pagina werkt niet zo. Ga terug naar de vorige pagina."),
    "too_large": ("Deze aanvraag is te groot", "Ga terug naar het platform en probeer het opnieuw."),
    "unavailable": ("leerID is even niet bereikbaar",
                    "Er loopt iets mis aan onze kant. Wacht een minuutje en probeer het dan opnieuw."),
    "server": ("Er ging iets mis",
               "Er ging iets mis aan onze kant. Probeer het opnieuw. Lukt het niet, vraag dan hulp aan je "
               "leerkracht."),
    "logout_failed": ("Afmelden lukte niet zo",
                      "Het platform stuurde een afmelding die we niet konden controleren. Je kunt hieronder "
                      "zelf afmelden."),
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
