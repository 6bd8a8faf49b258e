"""The authorization endpoint: verify the client, then login, consent and the code (OIDC Core §3.1.2)."""
from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from datetime import date
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import InvalidRequestError
from flask import make_response, redirect, render_template, request, session, url_for

from idp.accounts import AccountRepository, Standing
from idp.claims import releasable
from idp.crypto import random_token
from idp.directory import below_consent_age
from idp.interactions import Interaction
from idp.login import ACR_MFA, ACR_PASSWORD
from idp.mfa_policy import MfaPolicy
from idp.sessions import SsoSession
from idp.tokens import AuthContext
from idp.web import SSO_COOKIE, binding, error_page, oauth_server, services

PARENT_FIRST = "A parent must consent for this pupil first"
SECOND_FACTOR_NEEDED = "A second factor is needed, and prompt=none allows no page to ask for it"
CHOOSE_FIRST = "The person must choose for whom they log in, and prompt=none allows no page to ask"
MAX_PARAMS = 40
MAX_VALUE = 4096
RESPONSE_MODES = ("query", "form_post")


@dataclass
class Responder:
    """Sends an authorization response to a verified redirect URI, always with `iss` (RFC 9207)."""

    redirect_uri: str
    mode: str
    state: str | None
    issuer: str

    def _with_state(self, params: list[tuple[str, str]]) -> list[tuple[str, str]]:
        return params + ([("state", self.state)] if self.state else []) + [("iss", self.issuer)]

    def back(self, error: str, description: str) -> dict:
        """The way back to the platform with an error, as a page offers it: a link, or a form for form_post."""
        params = self._with_state([("error", error), ("error_description", description)])
        if self.mode == "form_post":
            return {"action": self.redirect_uri, "params": params}
        parts = urlsplit(self.redirect_uri)
        query = urlencode(parse_qsl(parts.query, keep_blank_values=True) + params)
        return {"href": urlunsplit(parts._replace(query=query))}

    def _send(self, params: list[tuple[str, str]]):
        params = self._with_state(params)
        if self.mode == "form_post":
            html = render_template("form_post.html", action=self.redirect_uri, params=params)
            response = make_response(html, 200)
            origin = "{0.scheme}://{0.netloc}".format(urlsplit(self.redirect_uri))
            response.headers["Content-Security-Policy"] = (
                f"default-src 'none'; script-src 'self'; style-src 'self'; form-action {origin}; "
                "frame-ancestors 'none'; base-uri 'none'")
            return response
        parts = urlsplit(self.redirect_uri)
        query = urlencode(parse_qsl(parts.query, keep_blank_values=True) + params)
        return redirect(urlunsplit(parts._replace(query=query)), 303)  # RFC 9700 §4.12

    def code(self, code: str):
        return self._send([("code", code)])

    def error(self, error: str, description: str | None = None):
        params = [("error", error)]
        if description:
            params.append(("error_description", description))
        return self._send(params)


def flatten(multi) -> dict | None:
    """Request parameters as a dict; None when a parameter repeats or the request is oversized."""
    if len(multi) > MAX_PARAMS:
        return None
    params = {}
    for key in multi:
        values = multi.getlist(key)
        if len(values) != 1 or len(values[0]) > MAX_VALUE or len(key) > 100:
            return None
        params[key] = values[0]
    return params


def handle(params: dict | None, interaction: Interaction | None = None):
    """One pass of the authorization endpoint; resumed after every login or consent step."""
    if params is None:
        return error_page("bad_request", 400)
    remember_ui_locales(params.get("ui_locales"))
    container, server = services(), oauth_server()
    client = server.query_client(params.get("client_id"))
    if client is None:
        return error_page("unknown_client", 400)
    redirect_uri = params.get("redirect_uri") or client.get_default_redirect_uri()
    if not redirect_uri or not client.check_redirect_uri(redirect_uri):
        return error_page("bad_redirect_uri", 400)
    openid = "openid" in params.get("scope", "").split()
    # From here on, errors go back to the verified redirect URI.
    mode = params.get("response_mode", "query")
    respond = Responder(redirect_uri, mode if mode in RESPONSE_MODES else "query", params.get("state"),
                        container.settings.issuer)
    if mode not in RESPONSE_MODES:
        return respond.error("invalid_request", "response_mode must be query or form_post")
    if openid and not params.get("redirect_uri"):
        return respond.error("invalid_request", "redirect_uri is required (OIDC Core 3.1.2.1)")
    if "request" in params:
        return respond.error("request_not_supported")
    if "request_uri" in params:
        return respond.error("request_uri_not_supported")
    cookie = request.cookies.get(SSO_COOKIE)
    sso = container.sessions.get(cookie)
    standing = container.mandates.standing(sso.account_id) if sso is not None else None
    if sso is not None and not standing.active:
        sso = None  # deactivated since it logged in
    from idp.badge_views import session_fits

    if sso is not None and not session_fits(sso, client, params):
        sso = None  # a badge session serves only its own school's school-agreement platforms
    try:
        grant = server.get_consent_grant(request=server.authorization_request(params), end_user=sso)
        claims = parse_claims(params.get("claims"))
        max_age = parse_max_age(params.get("max_age"))
    except OAuth2Error as exc:
        return respond.error(exc.error, exc.description)
    prompts = set(params.get("prompt", "").split())
    hint = params.get("id_token_hint")
    hinted_sub = None
    if hint:
        hinted = container.tokens.verify_id_token_hint(hint)
        if hinted is None:
            return respond.error("invalid_request", "id_token_hint is not an ID token from this provider")
        hinted_sub = hinted["sub"]
    if sso is not None and hinted_sub and not (interaction and interaction.logged_in) \
            and container.subjects.for_client(client, sso.account_id) != hinted_sub:
        sso = None  # another person is logged in here: theirs must not be used for the hinted one
    asked = releasable(client.attributes, client.get_allowed_scope(params.get("scope")), claims)
    if interaction is not None and interaction.consent == "allow" and not interaction.saw(client, asked):
        interaction.consent = None  # the policy changed since the page was shown: the person decides again
    acting = None
    if sso is not None and next_step(sso, prompts, max_age, interaction, client, True) != "login":
        stepped = step_up(params, sso, prompts, interaction, respond, client, standing)
        if stepped is not None:
            return stepped
        acting, choose = acting_for(sso, client, interaction, prompts) if standing.holds_mandates else (None, False)
        if choose and "none" in prompts:  # OIDC Core §3.1.2.6
            finish(interaction)
            return respond.error("account_selection_required", CHOOSE_FIRST)
        if choose:
            return park(params, "chooser", interaction)
    subject = acting.represented.id if acting else sso.account_id if sso else None
    remembered = consent_remembered(sso, client, asked, subject)
    decision = next_step(sso, prompts, max_age, interaction, client, remembered)
    if acting is not None and decision == "consent" and not acting.mandate.allows("consent", client.client_id):
        finish(interaction)  # the mandate lets the person log in for someone, not consent for them
        return respond.error("access_denied", "The mandate does not allow consent for this person")
    schools = standing.schools if sso is not None and subject == sso.account_id else None
    if sso is not None and decision in (None, "consent") and not container.clients.covers(client, subject,
                                                                                          schools=schools):
        finish(interaction)  # a school-agreement platform that none of the person's schools took on
        description = "The person's school has not activated this platform"
        if "none" in prompts:
            return respond.error("access_denied", description)
        back = respond.back("access_denied", description)
        return make_response(render_template("not_activated.html", client=client, back=back), 403)
    if sso is not None and acting is None and decision in (None, "consent") and client.basis == "consent" \
            and not remembered and is_young(sso.account_id):
        if "none" in prompts:  # a young pupil cannot consent alone: a parent decides in Mijn leerID
            finish(interaction)
            return respond.error("consent_required", PARENT_FIRST)
        return park(params, "parent", interaction)
    if decision == "deny":
        finish(interaction)
        return respond.error("access_denied", "The person refused the request")
    if decision in ("login", "consent"):
        if "none" in prompts:
            return respond.error("login_required" if decision == "login" else "consent_required")
        return park(params, decision, interaction)
    context = AuthContext(
        account_id=subject, sub=container.subjects.for_client(client, subject),
        client_id=client.client_id, auth_time=sso.auth_time, acr=sso.acr, amr=sso.amr,  # the actor's own login
        grant_id=random_token(16), sid=sso.sid, claims=claims,
    )
    if acting is not None:  # RFC 8693 §4.1: who really acts, under which mandate
        context.actor_id = sso.account_id
        context.act = {"sub": container.subjects.for_client(client, sso.account_id), "mandate": acting.mandate.id}
    if not container.sessions.add_client(cookie, sso, client.client_id, acted_for=subject if acting else None):
        finish(interaction)  # the session ended while this request ran (log out everywhere, a password change)
        if "none" in prompts:
            return respond.error("login_required", "The session has ended")
        return park(params, "login", None)  # listed first, so that its end always reaches the platform
    nonce = params.get("nonce")
    if nonce and not container.codes.remember_nonce(client.client_id, nonce, container.settings.interaction_ttl):
        return respond.error("invalid_request", "nonce was used before")
    if acting is not None:
        container.audit.record("mandate_used", actor_id=sso.account_id, subject_id=subject,
                               client_id=client.client_id, detail={"mandate": acting.mandate.id})
    remember_consent(interaction, sso, client, asked, subject)
    grant.request.user = context
    code = grant.generate_authorization_code()
    grant.save_authorization_code(code, grant.request)
    finish(interaction)
    return respond.code(code)


def next_step(sso: SsoSession | None, prompts: set, max_age: int | None, interaction: Interaction | None,
              client, remembered: bool = False) -> str | None:
    """login, consent, deny, or None when a code may be issued now.

    `remembered`: the person's consent for the platform's current policy covers what this request asks for.
    """
    fresh = interaction is not None and interaction.logged_in
    chosen = fresh or (interaction is not None and interaction.account_chosen)
    if sso is None or ("login" in prompts and not fresh) or ("select_account" in prompts and not chosen):
        return "login"
    if max_age is not None and time.time() - sso.auth_time > max_age and not fresh:
        return "login"
    decided = interaction.consent if interaction and interaction.consent_account == sso.account_id else None
    if decided == "deny":
        return "deny"
    if decided != "allow" and ("consent" in prompts or (client.basis == "consent" and not remembered)):
        return "consent"
    return None


def asks_mfa(acr_values: str | None, client=None) -> bool:
    """Whether the platform asks for the second factor: acr_values (OIDC Core §3.1.2.1) that only it satisfies (mfa
    asked, the password level not), or its own setting (`leerid clients create|update --require-mfa`)."""
    values = (acr_values or "").split()
    return bool(getattr(client, "require_mfa", False)) or (ACR_MFA in values and ACR_PASSWORD not in values)


def mfa_policy() -> MfaPolicy:
    container = services()
    return MfaPolicy(container.db, container.settings.mfa_roles)


def step_up(params: dict, sso: SsoSession, prompts: set, interaction: Interaction | None, respond: Responder,
            client=None, standing: Standing | None = None):
    """A session without a second factor where one is needed: the platform asks for it, or the person's role needs
    it (LEERID_MFA_ROLES; a session from before the policy, say). The person is stepped up, not logged in again:
    the code page, or setting up a code app when they have no second factor yet (anyone may set one up); a new
    session follows. prompt=none gets interaction_required (OIDC Core §3.1.2.6). None when the session will do."""
    if sso.acr == ACR_MFA:
        return None
    if not asks_mfa(params.get("acr_values"), client) and not (
            bool(standing.roles & set(services().settings.mfa_roles)) if standing is not None  # read on this hop
            else mfa_policy().required(sso.account_id)):
        return None
    if "none" in prompts:
        finish(interaction)
        return respond.error("interaction_required", SECOND_FACTOR_NEEDED)
    return second_factor_step(sso, params, interaction)


def second_factor_step(sso: SsoSession, params: dict, interaction: Interaction | None = None,
                       return_to: str | None = None):
    """Park the request (or, with `return_to`, a visit to one of leerID's own pages) at the second factor over the
    person's own session: the code page when they have a second factor, else the set-up of a code app. A badge
    session is never stepped up (a badge is no first factor: its holder could set up a code app of their own on
    the pupil's account): the login page instead, where a real login replaces it."""
    from idp.enrol_views import password_version  # that module builds on this one

    container = services()
    badge = "badge" in sso.amr
    step = "login" if badge else "mfa" if container.login.has_second_factor(sso.account_id) else "enrol"
    if interaction is None:
        interaction = container.interactions.start(params, binding(), step, return_to=return_to)
    interaction.step, interaction.step_up = step, not badge
    interaction.second_factor_for, interaction.second_factor_amr = (None, None) if badge \
        else (sso.account_id, list(sso.amr))
    interaction.password_version = password_version(sso.account_id) if step == "enrol" else None
    container.interactions.save(interaction)
    return redirect(url_for("interaction.show", uid=interaction.uid), 303)


def acting_for(sso: SsoSession, client, interaction: Interaction | None, prompts: set):
    """(the mandate the person acts under, or None for themselves; whether they must choose first).

    Someone holding a mandate with `login` that covers this platform chooses on every login, unless the platform
    takes no logins on someone's behalf. prompt=none allows no page: it goes on for themselves when that is all the
    person chose at this platform in this session, else they must choose (account_selection_required)."""
    if not client.delegation:
        return None, False
    held = services().mandates.represented_by(sso.account_id, "login", client.client_id)
    if not held:
        return None, False
    chosen = interaction.act_as if interaction is not None and interaction.act_account == sso.account_id else None
    if chosen == "self" or (chosen is None and "none" in prompts and only_self_here(sso, client.client_id)):
        return None, False
    found = next((h for h in held if h.represented.username == chosen), None)
    return found, found is None  # nothing chosen yet, or a mandate that ended since: choose (again)


def only_self_here(sso: SsoSession, client_id: str) -> bool:
    """The platform received tokens in this session, and only ever about the person themselves (`get` read the
    session with its platforms)."""
    return client_id in sso.clients and not sso.acted_for.get(client_id)


def consent_remembered(sso: SsoSession | None, client, asked: list[str], subject: str | None = None) -> bool:
    """A `consent`-basis platform: the person (`subject`, when someone acts for them) consented for its current
    policy version to all that is asked (a young pupil's consent counts only when someone else, a parent, gave
    it)."""
    if sso is None or client.basis != "consent":
        return False
    subject = subject or sso.account_id
    consent = services().consents.current(subject, client.client_id, client.policy_version)
    if consent is None or not consent.covers(asked):
        return False
    return consent.given_by != subject or not is_young(subject)


def remember_consent(interaction: Interaction | None, sso: SsoSession, client, asked: list[str],
                     subject: str) -> None:
    """The person allowed a `consent`-basis platform what this request asks for, perhaps without some optional
    attributes: keep it for later logins. A young pupil's consent is a parent's, never their own; someone acting
    under a mandate with `consent` decides for the person they act for."""
    allowed = interaction is not None and interaction.consent == "allow" \
        and interaction.consent_account == sso.account_id
    if not allowed or client.basis != "consent" or (subject == sso.account_id and is_young(subject)):
        return
    consents = services().consents
    earlier = consents.current(subject, client.client_id, client.policy_version)  # still holds: kept
    declined = set(interaction.declined or ()) & set(asked)
    attributes = (set(asked) | set(earlier.attributes if earlier else ())) - declined
    declined |= set(earlier.declined or ()) - set(asked) if earlier else set()
    consents.give(subject, client.client_id, client.policy_version, attributes, sso.account_id, declined)


def is_young(account_id: str) -> bool:
    """Younger than the digital consent age; a pupil whose birthdate leerID does not know counts as young."""
    container = services()
    with container.db.read() as session:
        account = AccountRepository(session).find(account_id)
        if account is None:
            return False
        return below_consent_age(account.role, account.birthdate, date.today(), container.settings.consent_age)


def responder(params: dict, client) -> Responder:
    """The way back to the platform of a parked request (its redirect URI was verified before it was parked)."""
    mode = params.get("response_mode", "query")
    return Responder(params.get("redirect_uri") or client.get_default_redirect_uri(),
                     mode if mode in RESPONSE_MODES else "query", params.get("state"), services().settings.issuer)


def remember_ui_locales(ui_locales: str | None) -> None:
    """ui_locales (OIDC Core §3.1.2.1): the first language leerID speaks, for the pages that follow."""
    from idp import LOCALES

    for tag in (ui_locales or "").split():
        language = tag.split("-")[0].lower()
        if language in LOCALES:
            session["ui_locale"] = language
            return


def park(params: dict, step: str, interaction: Interaction | None):
    """Keep the request in an interaction bound to this browser and send the person to its page."""
    store = services().interactions
    if interaction is None:
        interaction = store.start(params, binding(), step)
    else:
        interaction.step = step
        store.save(interaction)
    return redirect(url_for("interaction.show", uid=interaction.uid), 303)


def finish(interaction: Interaction | None) -> None:
    if interaction is not None:
        services().interactions.finish(interaction)


def parse_claims(raw: str | None) -> dict | None:
    """The `claims` request parameter (OIDC Core §5.5): a JSON object of id_token and userinfo requests."""
    if not raw:
        return None
    try:
        claims = json.loads(raw)
    except (ValueError, RecursionError):
        raise InvalidRequestError("claims is not JSON") from None
    if not isinstance(claims, dict) or any(k not in ("id_token", "userinfo") or not isinstance(v, dict)
                                           for k, v in claims.items()):
        raise InvalidRequestError("claims must map id_token and userinfo to objects")
    return claims


def parse_max_age(raw: str | None) -> int | None:
    if raw is None or raw == "":
        return None
    if not re.fullmatch(r"[0-9]{1,9}", raw):
        raise InvalidRequestError("max_age must be a non-negative whole number")
    return int(raw)
