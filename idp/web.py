"""Helpers shared by the blueprints: the container, cookies, the browser binding, error pages."""
from __future__ import annotations

from flask import (
    Blueprint,
    current_app,
    g,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from idp.crypto import random_token
from idp.wiring import Container

SSO_COOKIE = "leerid_sso"
DEVICE_COOKIE = "leerid_device"  # the accounts that logged in on this browser, by keyed HMAC (idp/guard.py)
OWN_PAGES = ("/beheer", "/mijn", "/operator")  # leerID's own pages, where a login may lead back to


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
    "not_school_admin": (
        N_("Je bent geen schoolbeheerder"),
        N_("Alleen schoolbeheerders kunnen hier de leerlingen, leerkrachten en klassen van hun school beheren. "
           "Moet jij dat doen? Vraag dan aan een schoolbeheerder of aan de directie van je school om je "
           "schoolbeheerder te maken.")),
    "not_operator": (
        N_("Deze pagina is voor de beheerders van leerID"),
        N_("Alleen wie leerID zelf beheert, kan hier aanvragen van leveranciers goedkeuren. Ga terug naar de "
           "vorige pagina.")),
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


def set_sso_cookie(response, value: str | None, max_age: int | None = None):
    """The SSO cookie; `max_age` keeps it after the browser closes (a personal device), None ends it with the
    browser (a shared device, a badge)."""
    secure = services().settings.secure_cookies
    if value is None:
        response.delete_cookie(SSO_COOKIE, path="/", secure=secure, httponly=True, samesite="Lax")
    else:
        response.set_cookie(SSO_COOKIE, value, max_age=max_age, path="/", secure=secure, httponly=True,
                            samesite="Lax")
    return response


def device_cookie() -> str | None:
    """This browser's device cookie (idp/guard.py): pass it to every secret check."""
    value = request.cookies.get(DEVICE_COOKIE)
    return value[:4096] if value else None


def full_login(account_id: str, version: str | None = None) -> None:
    """Marks this request as a whole login of `account_id`: a new session made with every factor the account has
    (not a set-up step, not a badge). Only then does remember_device trust the browser. `version`: the account's
    credential version, when the login read it already."""
    g.full_login = (account_id, version)


def remember_device(response, account_id: str):
    """After a whole login (full_login, once per request): this browser becomes a trusted device of the account
    under its current password, so that someone else's guesses never lock the person out here. HttpOnly,
    SameSite=Lax, Secure under https, kept for a year. Any other response is returned as it is."""
    from idp.guard import DEVICE_DAYS

    marked, version = g.pop("full_login", None) or (None, None)
    if marked != account_id:
        return response
    container = services()
    version = version or container.login.credential_version(account_id)
    value = container.guard.remember(account_id, device_cookie(), version)
    response.set_cookie(DEVICE_COOKIE, value, max_age=DEVICE_DAYS * 86400, path="/", httponly=True,
                        secure=container.settings.secure_cookies, samesite="Lax")
    return response


def own_page(path: str) -> str | None:
    """`path` when it is one of leerID's own pages, else None: a login never leads anywhere else."""
    if not isinstance(path, str) or len(path) > 512 or "//" in path or "\\" in path or not path.isprintable():
        return None
    return path if any(path == page or path.startswith(page + "/") for page in OWN_PAGES) else None


def signed_in():
    """This browser's SSO session, or None."""
    return services().sessions.get(request.cookies.get(SSO_COOKIE))


def ask_login(return_to: str):
    """The login page; after logging in the person comes back to `return_to` (one of leerID's own pages)."""
    interaction = services().interactions.start({}, binding(), "login", return_to=own_page(return_to) or OWN_PAGES[0])
    return redirect(url_for("interaction.show", uid=interaction.uid), 303)


def for_signed_in(bp: Blueprint, home: str) -> None:
    """Every page of `bp` is for a signed-in, active person (`g.actor_id`); someone else logs in first and comes
    back (to the page, or for a form to `home`). Personal pages are never kept by a browser or a proxy."""

    @bp.before_request
    def signed_in_only():
        sso = signed_in()
        if sso is None or "badge" in sso.amr or not services().accounts.is_active(sso.account_id):
            # a badge opens platforms only, never these pages; or deactivated since it logged in
            return ask_login(request.path if request.method == "GET" else url_for(home))
        g.actor_id = sso.account_id
        return None

    @bp.after_request
    def private(response):
        response.headers["Cache-Control"] = "no-store"
        return response
