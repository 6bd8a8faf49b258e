"""Blueprints for passkeys (idp.passkeys): "passkeys" lets the login interaction use one (without username or
password, or as the second factor after the password or for a step-up); "mijn_passkeys" adds, renames and removes
them in Mijn leerID > Beveiliging.

The browser asks for options as JSON (a POST with the CSRF token in X-CSRFToken), lets the authenticator answer,
and sends the answer as an ordinary form, so that the login ends like every other: a 303 and a new SSO session.
Adding a passkey needs a recent login; removing one a recent login or a current code of the person's code app.
"""
from __future__ import annotations

from flask import (
    Blueprint,
    flash,
    g,
    make_response,
    redirect,
    request,
    session,
    url_for,
)
from flask_babel import gettext, ngettext

from idp import ops
from idp.errors import InvalidInput, NotFound, Throttled
from idp.interaction import (
    _code_page,
    _logged_in,
    _login_page,
    parked,
    tick_shared_device,
)
from idp.interactions import Interaction
from idp.mijn_security import code_error, overview_page, passkeys, totp
from idp.passkeys import (
    MAX_PASSKEYS,
    PasskeyCloned,
    PasskeyRefused,
    TooManyPasskeys,
    recent,
    relying_party,
    usable_rp_id,
)
from idp.totp import InvalidTotpError
from idp.web import (
    ask_login,
    device_cookie,
    error_page,
    for_signed_in,
    remember_device,
    services,
    signed_in,
)

bp = Blueprint("passkeys", __name__, url_prefix="/interaction")
mine = Blueprint("mijn_passkeys", __name__, url_prefix="/mijn/beveiliging/passkeys")
for_signed_in(mine, "mijn_security.overview")


@bp.app_context_processor
def availability():
    """Templates offer passkeys only where browsers accept the RP ID (a domain, not 127.0.0.1)."""
    return {"passkeys_available": usable_rp_id(relying_party(services().settings.issuer)[0])}


def _json(body: str, status: int = 200):
    response = make_response(body, status)
    response.headers["Content-Type"] = "application/json"
    response.headers["Cache-Control"] = "no-store"
    return response


# --- the login interaction -------------------------------------------------------------------------------------


def _for_whom(interaction: Interaction) -> tuple[bool, str | None]:
    """(may a passkey answer now, whose it must be): the account of a waiting second factor, or None for a login
    without username; a step-up only over that same person's SSO session."""
    account = interaction.second_factor_for if interaction.step == "mfa" else None
    if account is None:
        return interaction.step in ("login", "mfa"), None
    sso = signed_in() if interaction.step_up else None
    if interaction.step_up and (sso is None or sso.account_id != account):
        return False, account
    return services().accounts.is_active(account), account


@bp.post("/<uid>/passkey/options")
@parked
def login_options(interaction: Interaction):
    service = passkeys()
    allowed, account = _for_whom(interaction)
    if not allowed or not service.available:
        return _json('{"error": "not_now"}', 400)
    return _json(service.authentication_options(interaction.uid, account))


@bp.post("/<uid>/passkey")
@parked
def login(interaction: Interaction):
    """The authenticator's answer: the person is logged in (amr hwk, acr mfa), or sees the page again with why."""
    service = passkeys()
    allowed, account = _for_whom(interaction)
    if not allowed or not service.available:
        return error_page("bad_request", 400)
    amr = tuple(interaction.second_factor_amr or ("pwd",)) if account else ()
    if account is None:  # a login with the passkey alone: the login form's "Dit is een gedeeld toestel" came along
        tick_shared_device(interaction)
    try:
        result = service.login(interaction.uid, request.form.get("credential", ""), account, amr,
                               request.remote_addr or "unknown", device_cookie())
    except Throttled as exc:
        ops.count_login("passkey", ops.refusal(exc))
        refused = _refused(interaction, account, ngettext(
            "Je passkey werd een paar keer geweigerd. Wacht %(num)d seconde en probeer dan opnieuw.",
            "Je passkey werd een paar keer geweigerd. Wacht %(num)d seconden en probeer dan opnieuw.",
            exc.retry_after), 429)
        refused.headers["Retry-After"] = str(exc.retry_after)
        return refused
    except PasskeyCloned:
        ops.count_login("passkey", "refused")
        message = gettext("Deze passkey werkt niet meer: misschien heeft iemand er een kopie van gemaakt. Meld je "
                          "aan op een andere manier en verwijder deze passkey in Mijn leerID. Lukt dat niet? Vraag "
                          "hulp aan de beheerder van je school.")
        return _refused(interaction, account, message, 403)
    except PasskeyRefused:
        ops.count_login("passkey", "bad_credentials")
        return _refused(interaction, account, gettext(
            "Dat lukte niet met je passkey. Probeer het opnieuw, of meld je op een andere manier aan."))
    ops.count_login("passkey")
    return remember_device(_logged_in(interaction, result), result.account_id)


def _refused(interaction: Interaction, account: str | None, message: str, status: int = 401):
    if account is not None:  # the second factor's page: the password's login attempt goes on
        return _code_page(interaction, status, message)
    session.pop("shared_device", None)  # a failed attempt leaves no choice behind for another way in
    return _login_page(interaction, status, message, shared=request.form.get("shared_device") == "yes")


# --- Mijn leerID > Beveiliging -----------------------------------------------------------------------------


def _back(error: str, failed: str, status: int = 400):
    return overview_page(status, error, failed)


def _recent() -> bool:
    sso = signed_in()
    return sso is not None and recent(sso.auth_time)


@mine.post("/opties")
def register_options():
    service = passkeys()
    if not service.available or not _recent():
        return _json('{"error": "login_again"}', 403)
    return _json(service.registration_options(g.actor_id, signed_in().sid))


@mine.post("")
def add():
    """A new passkey with the name the person gave it; only right after a login, so that someone who finds a
    browser still logged in cannot add a way in of their own."""
    service = passkeys()
    if not service.available or not _recent():
        return _back(gettext("Meld je eerst opnieuw aan. Daarna kan je een passkey toevoegen."), "add", 403)
    try:
        added = service.register(g.actor_id, signed_in().sid, request.form.get("credential", ""),
                                 request.form.get("name", ""))
    except TooManyPasskeys:
        return _back(gettext("Je hebt al %(count)d passkeys. Verwijder er eerst een die je niet meer gebruikt.",
                             count=MAX_PASSKEYS), "add")
    except InvalidInput:
        return _back(gettext("Geef je passkey een naam van hoogstens 64 tekens, bijvoorbeeld 'gsm van mama' of "
                             "'laptop'."), "add")
    except PasskeyRefused:
        return _back(gettext("Je passkey is niet toegevoegd. Probeer het opnieuw. Lukt het niet? Probeer dan een "
                             "andere browser of een ander toestel."), "add")
    flash(gettext("Je passkey '%(name)s' is toegevoegd. Na je wachtwoord kan je nu je passkey gebruiken, of je "
                  "aanmelden met alleen je passkey.", name=added.name), "done")
    return redirect(url_for("mijn_security.overview"), 303)


@mine.post("/<int:passkey_id>/naam")
def rename(passkey_id: int):
    try:
        passkeys().rename(g.actor_id, passkey_id, request.form.get("name", ""))
    except NotFound:
        return error_page("not_found", 404)
    except InvalidInput:
        return _back(gettext("Geef je passkey een naam van hoogstens 64 tekens."), f"rename-{passkey_id}")
    flash(gettext("De nieuwe naam is bewaard."), "done")
    return redirect(url_for("mijn_security.overview"), 303)


@mine.post("/<int:passkey_id>/verwijderen")
def remove(passkey_id: int):
    """Only after a recent login, or with a current code of the code app (or a recovery code), as removing the
    code app asks: a borrowed session cannot take away the person's way in."""
    code = request.form.get("code", "")
    if not _recent():
        if not code.strip() or not totp().enrolled(g.actor_id):
            return _back(gettext("Meld je eerst opnieuw aan. Daarna kan je deze passkey verwijderen."),
                         f"remove-{passkey_id}", 403)
        try:
            totp().second_factor(g.actor_id, code, request.remote_addr or "unknown", device=device_cookie())
        except (InvalidTotpError, Throttled) as exc:
            return _back(code_error(exc), f"remove-{passkey_id}", 429 if isinstance(exc, Throttled) else 400)
    try:
        name = passkeys().remove(g.actor_id, passkey_id, g.actor_id)
    except NotFound:
        return error_page("not_found", 404)
    flash(gettext("Je passkey '%(name)s' is verwijderd.", name=name), "done")
    return redirect(url_for("mijn_security.overview"), 303)


@mine.post("/opnieuw-aanmelden")
def login_again():
    """A fresh login (password and second factor, or a passkey), then back to Beveiliging."""
    return ask_login(url_for("mijn_security.overview"))
