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
from flask_babel import get_locale, gettext, ngettext

from idp import ops
from idp.accounts import AccountRepository
from idp.attribute_text import lines, purpose
from idp.authorize import PARENT_FIRST, acting_for, is_young, parse_claims, responder
from idp.claims import attribute_values, releasable
from idp.errors import InvalidCredentials, Locked, Throttled
from idp.interactions import Interaction
from idp.login import ACR_MFA, AuthResult
from idp.sessions import device_of
from idp.switch_views import first_name
from idp.totp import InvalidTotpError, TotpService, is_recovery_code
from idp.web import (
    SSO_COOKIE,
    binding,
    device_cookie,
    error_page,
    full_login,
    oauth_server,
    own_page,
    remember_device,
    services,
    set_sso_cookie,
    signed_in,
)

bp = Blueprint("interaction", __name__, url_prefix="/interaction")


def private(response):
    """A page of this person's login: never kept by a browser or a proxy."""
    response.headers["Cache-Control"] = "no-store"
    return response


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


def _current_account(interaction: Interaction, sso):
    """The account already logged in (`sso`: this browser's session), offered as a choice only for
    prompt=select_account within max_age."""
    prompts = set(interaction.params.get("prompt", "").split())
    if prompts != {"select_account"}:
        return None
    container = services()
    max_age = interaction.params.get("max_age", "")
    if sso is None or (max_age.isascii() and max_age.isdigit() and time.time() - sso.auth_time > int(max_age)):
        return None
    with container.db.read() as session:
        return AccountRepository(session).find(sso.account_id)


def _login_page(interaction: Interaction, status: int = 200, error: str | None = None, username: str = "",
                refused: Throttled | None = None, recovering: bool = False, shared: bool = False):
    """`refused`: a Throttled or Locked attempt (its ways back in are listed); `recovering`: the recovery code field
    is shown (a locked name, or a wrong recovery attempt); `shared`: "Dit is een gedeeld toestel" stays ticked.
    The SSO session is read once for the whole page (the offer to continue and the switch link)."""
    lock, sso = _lock(refused), signed_in()
    current = _current_account(interaction, sso)
    html = render_template(
        "login.html", interaction=interaction, client=_client(interaction), error=error,
        username=username or interaction.params.get("login_hint", "")[:64], shared=shared,
        current=current, still_here=first_name(sso, current), lock=lock,
        recovering=recovering or bool(lock and lock["kind"] == "pwd"),
    )
    return _retry_after(private(make_response(html, status)), refused)


@bp.get("/<uid>")
@parked
def show(interaction: Interaction):
    if interaction.step == "consent":
        return _consent_page(interaction)
    if interaction.step == "parent":
        return _parent_page(interaction)
    if interaction.step == "chooser":
        return _chooser_page(interaction)
    if interaction.step == "mfa" and interaction.second_factor_for:
        return _code_page(interaction)
    if interaction.step in ("enrol", "enrolled"):  # setting up a second factor (idp/enrol_views.py)
        from idp.enrol_views import enrol_page
        return enrol_page(interaction)
    return _login_page(interaction)


def _chooser_page(interaction: Interaction):
    """For whom the person logs in: themselves, or each person a mandate lets them act for at this platform."""
    container, client = services(), _client(interaction)
    sso = signed_in()
    if client is None or sso is None:
        return error_page("expired", 400)
    with container.db.read() as session:
        me = AccountRepository(session).find(sso.account_id)
    held = container.mandates.represented_by(sso.account_id, "login", client.client_id)
    html = render_template("chooser.html", interaction=interaction, client=client, me=me,
                           others=[h.represented for h in held])
    return private(make_response(html))


@bp.post("/<uid>/voor")
@parked
def choose(interaction: Interaction):
    """The chooser's answer; the authorization checks it against the person's mandates when it resumes."""
    container = services()
    sso = signed_in()
    act_as = request.form.get("act_as", "")
    if interaction.step != "chooser" or sso is None or not act_as or len(act_as) > 64:
        return error_page("bad_request", 400)
    interaction.act_as, interaction.act_account = act_as, sso.account_id
    interaction.consent = None  # a consent decision counts only for the person chosen now
    container.interactions.save(interaction)
    return _resume(interaction)


def _asked(interaction: Interaction, client) -> list[str]:
    params = interaction.params
    return releasable(client.attributes, client.get_allowed_scope(params.get("scope")),
                      parse_claims(params.get("claims")))


def _parent_page(interaction: Interaction, asked_now: bool = False):
    """A young pupil at a `consent`-basis platform: a parent must agree first. The pupil asks them with a button
    (a platform alone never puts a request before a parent), and goes back to the platform."""
    container, client = services(), _client(interaction)
    sso = signed_in()
    if client is None or sso is None:
        return error_page("expired", 400)
    last = container.consents.last_request(sso.account_id, client.client_id)
    current = last is not None and last.policy_version == client.policy_version
    html = render_template(
        "parent_needed.html", interaction=interaction, client=client, asked_now=asked_now,
        refused=current and last.status == "refused",
        pending=current and last.status == "pending" and set(_asked(interaction, client)) <= set(last.attributes),
        has_parent=bool(container.mandates.holders(sso.account_id, "consent", kind="parent")),
        back=responder(interaction.params, client).back("access_denied", PARENT_FIRST),
        age=container.settings.consent_age)
    return private(make_response(html, 403))


@bp.post("/<uid>/ouder")
@parked
def ask_parent(interaction: Interaction):
    """The pupil asks a parent: the request waits in the parent's Mijn leerID."""
    container, client = services(), _client(interaction)
    sso = signed_in()
    if interaction.step != "parent" or client is None or sso is None:
        return error_page("bad_request", 400)
    last = container.consents.last_request(sso.account_id, client.client_id)
    if not (last is not None and last.status == "refused" and last.policy_version == client.policy_version):
        container.consents.ask_parent(sso.account_id, client.client_id, client.policy_version,
                                      _asked(interaction, client))
    return _parent_page(interaction, asked_now=True)


def _consent_page(interaction: Interaction, status: int = 200):
    """The platform, its vendor and purpose, and each attribute it would receive with its value and why."""
    container, client, params = services(), _client(interaction), interaction.params
    sso = signed_in()
    if client is None or sso is None:
        return error_page("expired", 400)
    scope = client.get_allowed_scope(params.get("scope"))
    asked = _asked(interaction, client)
    interaction.shown_version, interaction.shown = client.policy_version, asked  # what the decision is about
    container.interactions.save(interaction)
    policy = container.policies.current(client)
    acting, _ = acting_for(sso, client, interaction, set())
    subject = acting.represented.id if acting else sso.account_id
    with container.db.read() as session:
        person = AccountRepository(session).find(subject)
        values = attribute_values(person)
    language = get_locale().language if get_locale() else "nl"
    earlier = container.consents.current(subject, client.client_id, client.policy_version) \
        if client.basis == "consent" else None
    granular = client.basis == "consent" and (acting is not None or not is_young(subject))  # not a pupil alone
    found = lines(asked, policy, values, language, gettext, granular=granular,
                  declined=(earlier.declined or ()) if earlier else ())
    html = render_template("consent.html", interaction=interaction, client=client, lines=found,
                           for_name=person.given_name if acting else None,
                           purpose=purpose(policy, client, language),
                           retention=policy.retention_days if policy else None,
                           offline="offline_access" in scope.split())
    return private(make_response(html, status))


@bp.post("/<uid>/login")
@parked
def login(interaction: Interaction):
    username, password = request.form.get("username", ""), request.form.get("password", "")
    shared = tick_shared_device(interaction)
    if not username.strip() or not password:
        session.pop("shared_device", None)
        return _login_page(interaction, 400, gettext("Vul je gebruikersnaam en je wachtwoord in."), username,
                           shared=shared)
    container, source, device = services(), request.remote_addr or "unknown", device_cookie()
    recovery = request.form.get("recovery_code", "").strip()  # offered on the page that says the name is locked
    method = "recovery" if recovery else "password"
    try:
        if recovery:
            checker = TotpService(container.db, container.vault, container.audit, guard=container.guard)
            result = container.login.recover(username, password, recovery, source, checker, device)
        else:
            result = container.login.password(username, password, source, device)
    except InvalidCredentials:
        ops.count_login(method, "bad_credentials")
        session.pop("shared_device", None)  # a failed attempt leaves no choice behind for another way in
        if recovery:
            return _login_page(interaction, 401, gettext(
                "De gebruikersnaam, het wachtwoord of de herstelcode klopt niet. Kijk ze goed na en probeer opnieuw."),
                username, recovering=True, shared=shared)
        return _login_page(interaction, 401, gettext(
            "Die gebruikersnaam of dat wachtwoord klopt niet. Kijk ze goed na en probeer opnieuw."), username,
            shared=shared)
    except Throttled as exc:
        ops.count_login(method, ops.refusal(exc))
        session.pop("shared_device", None)
        return _login_page(interaction, 429, _refusal(exc, gettext(
            "Deze gebruikersnaam is even op slot, omdat er te vaak een fout wachtwoord werd ingetypt.")),
            username, exc, shared=shared)
    ops.count_login(method)
    if result.second_factor:  # no session yet: the code page first
        interaction.step, interaction.step_up = "mfa", False
        interaction.second_factor_for, interaction.second_factor_amr = result.account_id, result.amr
        container.interactions.save(interaction)
        return redirect(url_for("interaction.show", uid=interaction.uid), 303)
    return remember_device(_logged_in(interaction, result), result.account_id)


def tick_shared_device(interaction: Interaction) -> bool:
    """The login form's "Dit is een gedeeld toestel" (the password or the passkey form): kept in the form cookie for
    this login request alone until the login ends (after a second factor or its set-up); whether it was ticked."""
    ticked = request.form.get("shared_device") == "yes"
    if ticked:
        session["shared_device"] = interaction.uid
    else:
        session.pop("shared_device", None)
    return ticked


def _refusal(exc: Throttled, locked: str) -> str:
    """What a refused attempt is told: the same for a name that exists and one that does not."""
    if isinstance(exc, Locked):
        return locked
    if exc.reason == "source":
        return ngettext("Op dit netwerk werd te vaak een fout wachtwoord of een foute code ingetypt. Wacht %(num)d "
                        "minuut en probeer dan opnieuw.", "Op dit netwerk werd te vaak een fout wachtwoord of een "
                        "foute code ingetypt. Wacht %(num)d minuten en probeer dan opnieuw.", _minutes(exc))
    if exc.kind == "pwd":
        return ngettext("Er werd een paar keer een fout wachtwoord ingetypt. Wacht %(num)d seconde en probeer dan "
                        "opnieuw.", "Er werd een paar keer een fout wachtwoord ingetypt. Wacht %(num)d seconden en "
                        "probeer dan opnieuw.", exc.retry_after)
    return ngettext("Er werd een paar keer een foute code ingetypt. Wacht %(num)d seconde en probeer dan opnieuw.",
                    "Er werd een paar keer een foute code ingetypt. Wacht %(num)d seconden en probeer dan opnieuw.",
                    exc.retry_after)


def _minutes(exc: Throttled) -> int:
    return max(1, (exc.retry_after + 59) // 60)


def _lock(exc: Throttled | None) -> dict | None:
    """For the page's list of ways back in: how long the lock lasts and which secret it is for."""
    return {"minutes": _minutes(exc), "kind": exc.kind, "device": exc.device} if isinstance(exc, Locked) else None


def _retry_after(response, exc: Throttled | None):
    if exc is not None:
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


def _logged_in(interaction: Interaction, result):
    """A new SSO session for the person who just authenticated, then back to the authorization; first the set-up
    of a second factor when they need one and have none (idp/enrol_views.py). Only a session made with every factor
    the account has (never with a badge) lets remember_device trust this browser."""
    from idp.enrol_views import enrol_first  # that module builds on this one
    if (enrolment := enrol_first(interaction, result)) is not None:
        return enrolment
    container = services()
    shared = session.pop("shared_device", None) == interaction.uid  # ticked on this request's login page
    before = container.sessions.end(request.cookies.get(SSO_COOKIE))
    if before is not None and before.account_id != result.account_id:  # someone else sat down: theirs ends too
        container.backchannel.session_ended(before)
    shared = shared or (before is not None and before.account_id == result.account_id and before.shared)  # step-up
    terms = container.session_policy.terms(result.account_id, request.remote_addr, shared)  # by role and device
    browser, system = device_of(request.headers.get("User-Agent"))
    cookie, _ = container.sessions.create(result.account_id, result.acr, result.amr, result.auth_time,
                                          idle=terms.idle, lifetime=terms.lifetime, shared=terms.shared,
                                          browser=browser, system=system,
                                          place=terms.place.as_dict() if terms.place else None)
    session.clear()  # every session identifier changes at login and at step-up, the form cookie's too
    interaction.logged_in = True
    interaction.second_factor_for, interaction.second_factor_amr, interaction.step_up = None, None, False
    container.interactions.rebind(interaction, binding())
    if "badge" not in result.amr and (result.acr == ACR_MFA
                                      or not container.login.has_second_factor(result.account_id, result)):
        full_login(result.account_id, result.version)
    return set_sso_cookie(_resume(interaction), cookie, None if terms.shared else terms.lifetime)


def _code_page(interaction: Interaction, status: int = 200, error: str | None = None,
               refused: Throttled | None = None):
    """The second factor's page: the code field for a code app, the passkey button for a passkey (or both)."""
    from idp.passkeys import second_factors

    with services().db.read() as session:
        methods = second_factors(session, interaction.second_factor_for or "")
    html = render_template("totp.html", interaction=interaction, client=_client(interaction), error=error,
                           methods=methods, lock=_lock(refused))
    return _retry_after(private(make_response(html, status)), refused)


@bp.post("/<uid>/code")
@parked
def code(interaction: Interaction):
    """The TOTP code after the password (or, for acr_values=urn:leerid:acr:mfa, over the person's SSO session)."""
    container = services()
    account_id = interaction.second_factor_for
    if interaction.step != "mfa" or not account_id:
        return error_page("bad_request", 400)
    sso = signed_in() if interaction.step_up else None
    if interaction.step_up and (sso is None or sso.account_id != account_id):  # only that person's own session
        return error_page("expired", 400)
    typed = request.form.get("code", "")
    method = "recovery" if is_recovery_code(typed) else "totp"
    if not container.accounts.is_active(account_id):  # deactivated since the password
        ops.count_login(method, "disabled")
        return error_page("expired", 400)
    if not typed.strip():
        return _code_page(interaction, 400, gettext("Typ de code van zes cijfers uit je app."))
    source, device = request.remote_addr or "unknown", device_cookie()
    checker = TotpService(container.db, container.vault, container.audit, container.store, guard=container.guard)
    amr = tuple(interaction.second_factor_amr or ("pwd",))
    try:
        if method == "recovery":
            result = _recovered(checker, account_id, typed, source, amr, device)
        else:
            result = container.login.totp(account_id, typed, source, checker.check, amr, device)
    except InvalidTotpError:
        ops.count_login(method, "bad_code")
        return _code_page(interaction, 401, gettext(
            "Die code klopt niet of is al gebruikt. Wacht op een nieuwe code in je app en probeer opnieuw."))
    except Throttled as exc:
        ops.count_login(method, ops.refusal(exc))
        locked = gettext("Er werd te vaak een foute herstelcode ingetypt. Daarom kan je even geen herstelcode "
                         "gebruiken.") if exc.kind == "recovery" else gettext(
            "Er werd te vaak een foute code ingetypt. Daarom kan je even geen code uit je app gebruiken.")
        return _code_page(interaction, 429, _refusal(exc, locked), exc)
    ops.count_login(method)
    return remember_device(_logged_in(interaction, result), result.account_id)


def _recovered(checker: TotpService, account_id: str, typed: str, source: str, amr: tuple[str, ...],
               device: str | None = None) -> AuthResult:
    """A recovery code instead of the app's code (used up at once, audited mfa_recovery_used). It is a second
    factor, so acr is mfa; but it is no one-time password from the app, so amr says "mfa" (RFC 8176: multiple-factor
    authentication), never "otp"."""
    checker.second_factor(account_id, typed, source, device=device)  # a TOTP code would not reach here
    methods = [*dict.fromkeys([*amr, "mfa"])]
    services().audit.record("login", actor_id=account_id, subject_id=account_id, detail={"amr": methods})
    return AuthResult(account_id, ACR_MFA, methods, int(time.time()))


@bp.post("/<uid>/continue")
@parked
def continue_as(interaction: Interaction):
    """prompt=select_account: the person picks the account already logged in."""
    if _current_account(interaction, signed_in()) is None:
        return _login_page(interaction)
    interaction.account_chosen = True
    services().interactions.save(interaction)
    return _resume(interaction)


@bp.post("/<uid>/consent")
@parked
def consent(interaction: Interaction):
    """The person's decision; an optional attribute whose box is not ticked is not sent."""
    decision = request.form.get("decision")
    container = services()
    sso = signed_in()
    if decision not in ("allow", "deny") or interaction.step != "consent" or sso is None:
        return error_page("bad_request", 400)
    interaction.consent, interaction.consent_account = decision, sso.account_id
    interaction.declined = optional_unticked(_client(interaction), request.form.getlist("keep"))
    container.interactions.save(interaction)
    return _resume(interaction)


def optional_unticked(client, kept: list[str]) -> list[str]:
    """The optional attributes of the platform's policy that the person did not keep ticked."""
    policy = services().policies.current(client) if client is not None and client.basis == "consent" else None
    if policy is None:
        return []
    return [rule.name for rule in policy.document.rules if rule.optional and rule.name not in kept]
