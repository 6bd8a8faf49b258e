"""Blueprint "enrol": setting up a code app (TOTP) in the middle of a login, when a second factor is needed and
the person has none yet (issue 6, item 3).

Who gets here: someone whose role needs a second factor (LEERID_MFA_ROLES, teachers and staff by default) right
after the right password, before any session; someone a platform asks a second factor of (acr_values or its
require-mfa setting), or a school administrator or operator at their pages, over their password-only session
(`step_up`); and anyone whose second factor was wiped, at the first login after it (they may do it later then,
unless they need one). Anyone may set up a code app: nothing here depends on the role but the words.

The page shows why, the QR code and the secret in text, and asks for a first code. A new secret waits encrypted
in Redis bound to this interaction (TotpService.start/confirm, as Mijn leerID binds it to the session) and counts
only after its first code; then the ten recovery codes are shown once, and "Verder" logs the person in with
acr urn:leerid:acr:mfa and amr ["pwd", "otp"] (a new session, as after the code page).

This is for a first second factor only: when the person has one by the time the first code comes (set up
meanwhile elsewhere), nothing is stored and they log in again. So too when their password changed since the
set-up began (reset by the school, say): the password checked at its start no longer counts. A badge session
never gets here (a badge is no first factor).
"""
from __future__ import annotations

import time

from flask import Blueprint, make_response, redirect, render_template, request, url_for
from flask_babel import gettext

from idp.accounts import AccountRepository
from idp.authorize import asks_mfa, mfa_policy, second_factor_step
from idp.crypto import sha256_hex
from idp.errors import Duplicate
from idp.interaction import _client, _logged_in, _login_page, parked, private
from idp.interactions import Interaction
from idp.login import ACR_MFA, ACR_PASSWORD, AuthResult
from idp.totp import InvalidTotpError, TotpService, grouped, qr_svg
from idp.web import N_, error_page, own_page, remember_device, services, signed_in

bp = Blueprint("enrol", __name__, url_prefix="/interaction")
ENROL, ENROLLED, SKIPPED = "enrol", "enrolled", "enrol-skipped"  # Interaction.step values of this blueprint
AGAIN = {  # why the set-up stopped and the person logs in again
    "second_factor": N_("Je account heeft intussen al een tweede stap. Meld je opnieuw aan. Heb je die tweede stap "
                        "niet zelf ingesteld? Vraag dan hulp aan je schoolbeheerder."),
    "password": N_("Je wachtwoord is intussen veranderd. Meld je opnieuw aan met je nieuwe wachtwoord."),
}


def totp() -> TotpService:
    container = services()
    s = container.settings
    return TotpService(container.db, container.vault, container.audit, container.store,
                       limits=(s.login_max_failures, s.login_max_failures_per_source, s.login_window))


def password_version(account_id: str) -> str:
    """Changes whenever the person's password does (a hash of its stored hash; "" for none)."""
    with services().db.read() as session:
        account = AccountRepository(session).find(account_id)
        stored = account.password_hash if account is not None else None
    return sha256_hex(stored) if stored else ""


def _binding(interaction: Interaction) -> str:
    """What a waiting secret is bound to: this interaction (itself bound to this browser)."""
    return f"interaction:{interaction.uid}"


def enrol_first(interaction: Interaction, result: AuthResult):
    """Called by the login before it makes a session: the enrolment step instead, when a second factor is needed
    (role or platform) and the person has none, or their second factor was wiped and this is their first login
    since. None: log in as usual."""
    if result.acr == ACR_MFA or (interaction.step == SKIPPED and interaction.second_factor_for == result.account_id):
        return None
    container = services()
    if container.login.has_second_factor(result.account_id, result):
        return None  # the second factor's own page asks for it (a passkey, say)
    policy = mfa_policy()
    if not (policy.required(result.account_id, result.roles) or asks_mfa(interaction.params.get("acr_values"), _client(interaction))):
        notice = policy.reset_notice(result.account_id)
        if notice is None or notice.logins_since > 1:
            return None
    interaction.step, interaction.step_up = ENROL, False
    interaction.second_factor_for, interaction.second_factor_amr = result.account_id, list(result.amr)
    interaction.password_version = password_version(result.account_id)
    container.interactions.save(interaction)
    return redirect(url_for("interaction.show", uid=interaction.uid), 303)


def second_factor_first(bp: Blueprint, home: str, applies=lambda: True) -> None:
    """Every page of `bp` (after `for_signed_in`) needs a session with a second factor: a password-only session is
    stepped up (the code page, or setting up a code app), not logged in again, and comes back to the page (or, for
    a form, to `home`). `applies()`: only for those the pages are for (others get the pages' own refusal)."""

    @bp.before_request
    def stepped_up_only():
        sso = signed_in()
        if sso is None or sso.acr == ACR_MFA or not applies():
            return None
        back = request.path if request.method == "GET" else url_for(home)
        return second_factor_step(sso, {}, return_to=own_page(back) or url_for(home))


def _account(interaction: Interaction, steps: tuple[str, ...]) -> str | None:
    """The person setting up, when the interaction is at one of `steps` for them (a step-up: over their own
    session, never a badge's) and their account is active."""
    account_id = interaction.second_factor_for
    if interaction.step not in steps or not account_id or "badge" in (interaction.second_factor_amr or ()):
        return None
    if interaction.step_up:
        sso = signed_in()
        if sso is None or sso.account_id != account_id or "badge" in sso.amr:
            return None
    return account_id if services().accounts.is_active(account_id) else None


def _needed(interaction: Interaction, account_id: str) -> tuple[bool, bool]:
    """(the role needs a second factor, the platform or the page asks for one)."""
    asked = interaction.step_up or asks_mfa(interaction.params.get("acr_values"), _client(interaction))
    return mfa_policy().required(account_id), asked


def enrol_page(interaction: Interaction, status: int = 200, error: str | None = None):
    """The set-up page (step "enrol"), or after it the way on (step "enrolled", the codes shown already)."""
    account_id = _account(interaction, (ENROL, ENROLLED))
    if account_id is None:
        return error_page("expired", 400)
    if interaction.step == ENROLLED:
        return _codes_page(interaction, None)
    enrolment = totp().start(account_id, _binding(interaction))
    by_role, asked = _needed(interaction, account_id)
    html = render_template(
        "enrol.html", interaction=interaction, client=_client(interaction), error=error,
        qr=qr_svg(enrolment), secret=grouped(enrolment.secret), notice=_wiped(mfa_policy().reset_notice(account_id)),
        by_role=by_role, asked=asked, own_page=bool(interaction.return_to))
    return private(make_response(html, status))


def _wiped(notice) -> str | None:
    """The notice about a wiped second factor, in words (the day as elsewhere in leerID)."""
    if notice is None:
        return None
    day = notice.on.strftime("%d/%m/%Y")
    if notice.by:
        return gettext("Je schoolbeheerder %(name)s heeft je tweede stap gewist op %(date)s. Stel een nieuwe in.",
                       name=notice.by, date=day)
    return gettext("De helpdesk van leerID heeft je tweede stap gewist op %(date)s. Stel een nieuwe in.", date=day)


def _log_in_again(interaction: Interaction, why: str):
    """The login page, with why; the set-up is over (nothing more is stored by it)."""
    interaction.step, interaction.step_up = "login", False
    interaction.second_factor_for = interaction.second_factor_amr = interaction.password_version = None
    services().interactions.save(interaction)
    return _login_page(interaction, 409, gettext(AGAIN[why]))


def _codes_page(interaction: Interaction, codes: list[str] | None):
    html = render_template("enrol_codes.html", interaction=interaction, codes=codes)
    return private(make_response(html))


@bp.post("/<uid>/enrol")
@parked
def confirm(interaction: Interaction):
    """The first code of the new secret: it is stored with ten recovery codes, shown once; only as the person's
    first second factor, and for the password that began the set-up."""
    account_id = _account(interaction, (ENROL,))
    if account_id is None:
        return error_page("bad_request", 400)
    if password_version(account_id) != interaction.password_version:
        return _log_in_again(interaction, "password")
    try:
        codes = totp().confirm(account_id, _binding(interaction), request.form.get("code", ""), first=True)
    except Duplicate:
        return _log_in_again(interaction, "second_factor")
    except InvalidTotpError:
        return enrol_page(interaction, 400, gettext(
            "Die code klopt niet. Kijk of je de code van leerID in je app neemt, wacht op een nieuwe code en "
            "probeer opnieuw."))
    interaction.step = ENROLLED
    services().interactions.save(interaction)
    return _codes_page(interaction, codes)


@bp.post("/<uid>/enrol/verder")
@parked
def carry_on(interaction: Interaction):
    """After the recovery codes: logged in with the password and the new code app (a new session)."""
    account_id = _account(interaction, (ENROLLED,))
    if account_id is None:
        return error_page("bad_request", 400)
    if password_version(account_id) != interaction.password_version:
        return _log_in_again(interaction, "password")
    amr = [*dict.fromkeys([*(interaction.second_factor_amr or ["pwd"]), "otp"])]
    services().audit.record("login", actor_id=account_id, subject_id=account_id, detail={"amr": amr})
    result = AuthResult(account_id, ACR_MFA, amr, int(time.time()))
    return remember_device(_logged_in(interaction, result), account_id)  # a whole login: a trusted browser


@bp.post("/<uid>/enrol/later")
@parked
def later(interaction: Interaction):
    """"Not now": only for someone who needs no second factor here (told that theirs was wiped)."""
    account_id = _account(interaction, (ENROL,))
    if account_id is None or any(_needed(interaction, account_id)):
        return error_page("bad_request", 400)
    if password_version(account_id) != interaction.password_version:
        return _log_in_again(interaction, "password")
    interaction.step = SKIPPED  # the login below does not send them back here
    amr = list(interaction.second_factor_amr or ["pwd"])
    return _logged_in(interaction, AuthResult(account_id, ACR_PASSWORD, amr, int(time.time())))
