"""Blueprint "badge": logging in with a QR badge.

From a platform's login page, `/interaction/<uid>/badge` scans the badge with the device's camera (jsQR in the
page) or takes the short code printed under it (a form that works without JavaScript). A badge opened by a camera
app lands on `/badge#<secret>`: the secret is only in the fragment, which no browser sends, and the page posts it
(with its CSRF token); such a login ends on a page that names the school's platforms. A school that asks for a PIN
or a picture gets a second small page. A badge session is short, ends with the browser, and never opens leerID's
own pages: those ask for a real login, which replaces it.
"""
from __future__ import annotations

from flask import (
    Blueprint,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext, ngettext

from idp import ops
from idp.accounts import AccountRepository
from idp.authorize import asks_mfa
from idp.badges import (
    AMR_BADGE,
    PICTURES,
    BadgeLogin,
    BadgeRefused,
    WrongAnswer,
    meets_acr_values,
)
from idp.errors import Throttled
from idp.interaction import parked, private
from idp.interactions import Interaction
from idp.sessions import device_of
from idp.web import (
    N_,
    SSO_COOKIE,
    binding,
    device_cookie,
    oauth_server,
    services,
    set_sso_cookie,
    signed_in,
)

bp = Blueprint("badge", __name__)
PENDING = "badge-step"  # Redis: the badge that waits for its PIN or picture, per interaction or browser
PENDING_TTL = 300
REFUSALS = {  # what the pupil (or the teacher beside them) reads
    "unknown": N_("We kennen deze badge niet. Probeer het nog eens, of typ de code die onder de QR-code staat."),
    "revoked": N_("Deze badge werkt niet meer. Vraag je juf of meester om een nieuwe badge."),
    "expired": N_("Deze badge was maar voor één dag, en die dag is voorbij. Vraag je juf of meester om een nieuwe "
                  "badge."),
    "disabled": N_("Je account is uitgeschakeld. Vraag je juf of meester om hulp."),
    "not_pupil": N_("Deze badge hoort bij een school waar je nu niet bent ingeschreven. Vraag je juf of meester om "
                    "hulp."),
    "too_old": N_("Badges zijn voor jonge kinderen. Meld je aan met je gebruikersnaam en je wachtwoord."),
    "network": N_("Met je badge kun je je alleen op school aanmelden. Meld je aan met je gebruikersnaam en je "
                  "wachtwoord."),
    "renew": N_("Je badge is te oud. Vraag je juf of meester om een nieuwe badge."),
    "platform": N_("Met een badge kun je je hier niet aanmelden. Meld je aan met je gebruikersnaam en je "
                   "wachtwoord."),
}
PICTURE_NAMES = {"hond": N_("hond"), "kat": N_("kat"), "vis": N_("vis"), "boom": N_("boom"), "zon": N_("zon"),
                 "auto": N_("auto"), "appel": N_("appel"), "ster": N_("ster"), "huis": N_("huis")}



def badge_login() -> BadgeLogin:
    container = services()
    s = container.settings
    return BadgeLogin(container.db, container.guard, container.audit, s.secret_keys, max_age=s.badge_max_age)


def source() -> str:
    """The request's source address (behind LEERID_TRUSTED_PROXIES proxies, as ProxyFix found it)."""
    return request.remote_addr or "unknown"


def session_fits(sso, client, params: dict) -> bool:
    """Whether a badge session may be used for this authorization request: a school-agreement platform of the
    pupil's own school that asks no more than a badge gives (acr_values, or a platform that requires a second
    factor). Any other session fits as before."""
    if AMR_BADGE not in sso.amr:
        return True
    return _badge_platform(client, params) and badge_login().opens(sso.account_id, client)


def _badge_platform(client, params: dict) -> bool:
    """A platform a badge may open for this request: never one that asks a second factor (acr_values, even with
    the badge level among them, or its require-mfa setting): a badge is no first step towards one."""
    return client is not None and client.basis == "school-agreement" and client.school_id is None \
        and not asks_mfa(params.get("acr_values"), client) and meets_acr_values(params.get("acr_values"))


def refusal(reason: str) -> str:
    return gettext(REFUSALS[reason])


@bp.context_processor
def words():
    return {"picture_name": lambda name: gettext(PICTURE_NAMES[name]), "pictures": PICTURES}


# --- from a platform's login page ----------------------------------------------------------------------------


def _client(interaction: Interaction):
    return oauth_server().query_client(interaction.params.get("client_id")) if interaction.params else None


def _scan_page(interaction: Interaction | None, status: int = 200, error: str | None = None, code: str = ""):
    client = _client(interaction) if interaction else None
    allowed = interaction is None or _badge_platform(client, interaction.params)
    html = render_template("badge_scan.html", interaction=interaction, client=client, error=error, code=code,
                           allowed=allowed, prefix=services().settings.issuer + "/badge#",
                           action=url_for("badge.scanned", uid=interaction.uid) if interaction
                           else url_for("badge.direct_scanned"))
    return private(make_response(html, status))


@bp.get("/interaction/<uid>/badge")
@parked
def scan(interaction: Interaction):
    if not _badge_platform(_client(interaction), interaction.params):
        return _scan_page(interaction, 403, refusal("platform"))
    return _scan_page(interaction)


@bp.post("/interaction/<uid>/badge")
@parked
def scanned(interaction: Interaction):
    client = _client(interaction)
    if not _badge_platform(client, interaction.params):
        return _scan_page(interaction, 403, refusal("platform"))
    return _scanned(interaction, client, interaction.uid)


@bp.get("/interaction/<uid>/badge/stap")
@parked
def step(interaction: Interaction):
    return _step_page(interaction, interaction.uid)


@bp.post("/interaction/<uid>/badge/stap")
@parked
def answered(interaction: Interaction):
    return _answered(interaction, interaction.uid)


def _scanned(interaction: Interaction | None, client, pending_key: str):
    """A scanned secret or a typed short code: logged in, on to the second step, or the reason why not."""
    secret, code = request.form.get("secret", ""), request.form.get("code", "")
    if not secret and not code.strip():
        return _scan_page(interaction, 400, gettext("Typ de code die onder de QR-code op je badge staat."))
    try:
        found = badge_login().scan(source(), secret=secret[:64], code=code[:64], client=client, device=device_cookie())
    except BadgeRefused as exc:
        ops.count_login("badge", "bad_credentials" if exc.reason == "unknown" else "refused")
        return _scan_page(interaction, 401 if exc.reason == "unknown" else 403, refusal(exc.reason),
                          code[:32])
    except Throttled as exc:
        ops.count_login("badge", ops.refusal(exc))
        return _retry_after(_scan_page(interaction, 429, _throttled(exc)), exc)
    if found.step is not None:
        services().store.put(PENDING, pending_key, {"badge": found.badge_id, "step": found.step}, PENDING_TTL)
        target = url_for("badge.step", uid=interaction.uid) if interaction else url_for("badge.direct_step")
        return redirect(target, 303)
    ops.count_login("badge")
    return _logged_in(interaction, found.result)


def _throttled(exc: Throttled) -> str:
    """What a refused attempt is told (Throttled or Locked, idp/guard.py): how long to wait, and whom to ask."""
    if exc.retry_after < 60:
        return ngettext("Dat ging een paar keer mis. Wacht %(num)d seconde en probeer het dan opnieuw.",
                        "Dat ging een paar keer mis. Wacht %(num)d seconden en probeer het dan opnieuw.",
                        exc.retry_after)
    minutes = (exc.retry_after + 59) // 60
    return ngettext("Dat ging te vaak mis. Wacht %(num)d minuut en probeer het dan opnieuw, of vraag je juf of "
                    "meester om hulp.", "Dat ging te vaak mis. Wacht %(num)d minuten en probeer het dan opnieuw, of "
                    "vraag je juf of meester om hulp.", minutes)


def _retry_after(response, exc: Throttled):
    response.headers["Retry-After"] = str(exc.retry_after)
    return response


def _step_page(interaction: Interaction | None, pending_key: str, status: int = 200, error: str | None = None):
    pending = services().store.get(PENDING, pending_key)
    if pending is None:  # nothing waiting (too long ago, or done): scan again
        back = url_for("badge.scan", uid=interaction.uid) if interaction else url_for("badge.direct")
        return redirect(back, 303)
    action = url_for("badge.answered", uid=interaction.uid) if interaction else url_for("badge.direct_answered")
    html = render_template("badge_step.html", step=pending["step"], error=error, action=action,
                           client=_client(interaction) if interaction else None)
    return private(make_response(html, status))


def _answered(interaction: Interaction | None, pending_key: str):
    store = services().store
    pending = store.get(PENDING, pending_key)
    if pending is None:
        return _step_page(interaction, pending_key)
    typed = request.form.get("pin") or request.form.get("picture") or ""
    wrong = {"pin": N_("Die pincode klopt niet. Probeer het nog eens."),
             "picture": N_("Dat is niet jouw prentje. Probeer het nog eens.")}
    try:
        result = badge_login().answer(pending["badge"], typed, source(), device_cookie())
    except WrongAnswer:
        ops.count_login("badge", "bad_code")
        return _step_page(interaction, pending_key, 401, gettext(wrong.get(pending["step"], wrong["pin"])))
    except Throttled as exc:
        ops.count_login("badge", ops.refusal(exc))
        return _retry_after(_step_page(interaction, pending_key, 429, _throttled(exc)), exc)
    except BadgeRefused as exc:  # revoked, expired or moved since it was scanned
        ops.count_login("badge", "refused")
        store.delete(PENDING, pending_key)
        return _scan_page(interaction, 403, refusal(exc.reason))
    store.delete(PENDING, pending_key)
    ops.count_login("badge")
    return _logged_in(interaction, result)


def _logged_in(interaction: Interaction | None, result):
    """A new, short SSO session (its cookie ends with the browser), then back to the authorization, or to the page
    that says the pupil is logged in. A badge never makes the device a trusted one (idp/guard.py)."""
    container = services()
    s = container.settings
    before = container.sessions.end(request.cookies.get(SSO_COOKIE))
    if before is not None and before.account_id != result.account_id:  # the next pupil: the last one's ends too
        container.backchannel.session_ended(before)
    browser, system = device_of(request.headers.get("User-Agent"))
    cookie, _ = container.sessions.create(result.account_id, result.acr, result.amr, result.auth_time,
                                          idle=s.badge_session_ttl, lifetime=s.badge_session_max_age,
                                          browser=browser, system=system)
    session.clear()  # every session identifier changes at login, the form cookie's too
    if interaction is None:
        response = redirect(url_for("badge.done"), 303)
    else:
        interaction.logged_in = True
        interaction.second_factor_for, interaction.second_factor_amr, interaction.step_up = None, None, False
        container.interactions.rebind(interaction, binding())
        response = redirect(url_for("oidc.resume", uid=interaction.uid), 303)
    return set_sso_cookie(response, cookie)


# --- a badge opened by a camera app: /badge#<secret> --------------------------------------------------------------


def _direct_key() -> str:
    return "direct:" + binding()


@bp.get("/badge")
def direct():
    return _scan_page(None)


@bp.post("/badge")
def direct_scanned():
    return _scanned(None, None, _direct_key())


@bp.get("/badge/stap")
def direct_step():
    return _step_page(None, _direct_key())


@bp.post("/badge/stap")
def direct_answered():
    return _answered(None, _direct_key())


@bp.get("/badge/klaar")
def done():
    """After a badge login outside a platform: the pupil is logged in; their school's platforms open at once."""
    sso = signed_in()
    if sso is None or AMR_BADGE not in sso.amr or not services().accounts.is_active(sso.account_id):
        return redirect(url_for("badge.direct"), 303)
    with services().db.read() as db:
        person = AccountRepository(db).get(sso.account_id)
        name = person.given_name
    html = render_template("badge_done.html", name=name, platforms=badge_login().platforms(sso.account_id))
    return private(make_response(html))
