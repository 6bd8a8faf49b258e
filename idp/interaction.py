"""Blueprint "interaction": the login, account choice and consent pages of a parked authorization."""
from __future__ import annotations

import functools
import time

from flask import (
    Blueprint,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext

from idp.accounts import AccountRepository
from idp.authorize import parse_claims
from idp.claims import releasable
from idp.errors import InvalidCredentials, Throttled
from idp.interactions import Interaction
from idp.web import (
    SSO_COOKIE,
    binding,
    error_page,
    oauth_server,
    own_page,
    services,
    set_sso_cookie,
)

bp = Blueprint("interaction", __name__, url_prefix="/interaction")

# The consent page's line for each attribute (consent.html): the parts of a name share one.
CONSENT_LINES = {"given_name": "name", "family_name": "name", "schools": "school"}


def parked(view):
    """The view's interaction, loaded for this browser only; an expired or foreign one gets a Dutch page."""

    @functools.wraps(view)
    def wrapper(uid: str):
        interaction = services().interactions.load(uid, binding())
        if interaction is None:
            return error_page("expired", 400)
        return view(interaction)

    return wrapper


def _resume(interaction: Interaction):
    back = own_page(interaction.return_to or "")
    if back:  # a login for one of leerID's own pages, not for a platform
        services().interactions.finish(interaction)
        return redirect(back, 303)
    return redirect(url_for("oidc.resume", uid=interaction.uid), 303)


def _client(interaction: Interaction):
    return oauth_server().query_client(interaction.params.get("client_id"))


def _current_account(interaction: Interaction):
    """The account already logged in, offered as a choice only for prompt=select_account within max_age."""
    prompts = set(interaction.params.get("prompt", "").split())
    if prompts != {"select_account"}:
        return None
    container = services()
    sso = container.sessions.get(request.cookies.get(SSO_COOKIE))
    max_age = interaction.params.get("max_age", "")
    if sso is None or (max_age.isascii() and max_age.isdigit() and time.time() - sso.auth_time > int(max_age)):
        return None
    with container.db.read() as session:
        return AccountRepository(session).find(sso.account_id)


def _login_page(interaction: Interaction, status: int = 200, error: str | None = None, username: str = ""):
    html = render_template(
        "login.html", interaction=interaction, client=_client(interaction), error=error,
        username=username or interaction.params.get("login_hint", "")[:64],
        current=_current_account(interaction),
    )
    response = make_response(html, status)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/<uid>")
@parked
def show(interaction: Interaction):
    if interaction.step == "consent":
        client = _client(interaction)
        params = interaction.params
        scopes = params.get("scope", "").split()
        asked = releasable(client.attributes, client.get_allowed_scope(params.get("scope")),
                           parse_claims(params.get("claims")))
        shown = {CONSENT_LINES.get(name, name) for name in asked}
        response = make_response(render_template("consent.html", interaction=interaction, client=client,
                                                 scopes=scopes, shown=shown))
        response.headers["Cache-Control"] = "no-store"
        return response
    return _login_page(interaction)


@bp.post("/<uid>/login")
@parked
def login(interaction: Interaction):
    username, password = request.form.get("username", ""), request.form.get("password", "")
    if not username.strip() or not password:
        return _login_page(interaction, 400, gettext("Vul je gebruikersnaam en je wachtwoord in."), username)
    container = services()
    try:
        result = container.login.password(username, password, request.remote_addr or "unknown")
    except InvalidCredentials:
        return _login_page(interaction, 401, gettext(
            "Die gebruikersnaam of dat wachtwoord klopt niet. Kijk ze goed na en probeer opnieuw."), username)
    except Throttled as exc:
        minutes = max(1, (exc.retry_after + 59) // 60)
        return _login_page(interaction, 429, gettext(
            "Je hebt te vaak een fout wachtwoord ingetypt. Wacht %(minutes)s minuten en probeer dan opnieuw.",
            minutes=minutes), username)
    container.sessions.end(request.cookies.get(SSO_COOKIE))
    cookie, _ = container.sessions.create(result.account_id, result.acr, result.amr, result.auth_time)
    session.clear()  # every session identifier changes at login, the form cookie's too
    interaction.logged_in = True
    container.interactions.rebind(interaction, binding())
    return set_sso_cookie(_resume(interaction), cookie)


@bp.post("/<uid>/continue")
@parked
def continue_as(interaction: Interaction):
    """prompt=select_account: the person picks the account already logged in."""
    if _current_account(interaction) is None:
        return _login_page(interaction)
    interaction.account_chosen = True
    services().interactions.save(interaction)
    return _resume(interaction)


@bp.post("/<uid>/consent")
@parked
def consent(interaction: Interaction):
    decision = request.form.get("decision")
    container = services()
    sso = container.sessions.get(request.cookies.get(SSO_COOKIE))
    if decision not in ("allow", "deny") or interaction.step != "consent" or sso is None:
        return error_page("bad_request", 400)
    interaction.consent, interaction.consent_account = decision, sso.account_id
    container.interactions.save(interaction)
    return _resume(interaction)
