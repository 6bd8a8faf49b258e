"""Blueprint "mijn_security": in Mijn leerID, the person sets up, replaces or removes their code app (TOTP) and
makes new recovery codes (issue 6, item 2), and sees their passkeys (added, renamed and removed in
idp.passkey_views, issue 6, item 5).

A new secret waits encrypted in Redis, bound to this SSO session, until its first code is right; only then is it
stored. Removing and new recovery codes ask for a current code. Every page is the signed-in person's own, no-store.
"""
from __future__ import annotations

from flask import (
    Blueprint,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext

from idp.errors import Throttled
from idp.mijn import when
from idp.passkeys import PasskeyService, recent
from idp.totp import InvalidTotpError, TotpService, grouped, qr_svg
from idp.web import device_cookie, for_signed_in, services, signed_in

bp = Blueprint("mijn_security", __name__, url_prefix="/mijn/beveiliging")
for_signed_in(bp, "mijn_security.overview")


def totp() -> TotpService:
    container = services()
    return TotpService(container.db, container.vault, container.audit, container.store, guard=container.guard)


def passkeys() -> PasskeyService:
    container = services()
    return PasskeyService(container.db, container.store, container.settings.issuer, container.guard)


def _session_id() -> str:
    """The SSO session a waiting secret is bound to (its sid, never the cookie value)."""
    return signed_in().sid


def _page(template: str, status: int = 200, **context):
    container = services()
    me = container.my_data.person(g.actor_id)
    has_children = bool(container.mandates.represented_by(g.actor_id, "consent"))
    return make_response(render_template(template, me=me, section="security", has_children=has_children,
                                         **context), status)


def code_error(exc: Exception) -> str:
    if isinstance(exc, Throttled):
        minutes = max(1, (exc.retry_after + 59) // 60)
        return gettext("Je hebt te vaak een foute code ingetypt. Wacht %(minutes)s minuten en probeer dan opnieuw.",
                       minutes=minutes)
    return gettext("Die code klopt niet of is al gebruikt. Wacht op een nieuwe code in je app en probeer opnieuw.")


def overview_page(status: int = 200, error: str | None = None, failed: str | None = None):
    """The code app, its recovery codes and the passkeys; `failed` names the form whose `error` is shown."""
    service = totp()
    enrolled = service.enrolled(g.actor_id)
    return _page("mijn/security.html", status, enrolled=enrolled, error=error, failed=failed,
                 left=service.recovery_codes_left(g.actor_id) if enrolled else 0,
                 passkeys=passkeys().for_account(g.actor_id), recent=recent(signed_in().auth_time), when=when)


@bp.get("")
def overview():
    return overview_page()


@bp.post("/instellen")
def start():
    """A new secret (or the one already waiting in this session), then the page with its QR code. Replacing a
    code app asks for a current code first, as removing it does: a borrowed session cannot swap in its own app."""
    service = totp()
    try:
        if service.enrolled(g.actor_id) and service.pending(g.actor_id, _session_id()) is None:
            service.second_factor(g.actor_id, request.form.get("code", ""), request.remote_addr or "unknown",
                                  device=device_cookie())
    except (InvalidTotpError, Throttled) as exc:
        return overview_page(429 if isinstance(exc, Throttled) else 400, code_error(exc), "replace")
    service.start(g.actor_id, _session_id())
    return redirect(url_for("mijn_security.enrol"), 303)


def _enrol_page(status: int = 200, error: str | None = None):
    enrolment = totp().pending(g.actor_id, _session_id())
    if enrolment is None:  # nothing waiting (expired, or already confirmed)
        return redirect(url_for("mijn_security.overview"), 303)
    return _page("mijn/security_enrol.html", status, qr=qr_svg(enrolment), secret=grouped(enrolment.secret),
                 error=error, replacing=totp().enrolled(g.actor_id))


@bp.get("/instellen")
def enrol():
    return _enrol_page()


@bp.post("/bevestigen")
def confirm():
    """The first code of the new secret: it is stored, and the ten recovery codes are shown (once)."""
    try:
        codes = totp().confirm(g.actor_id, _session_id(), request.form.get("code", ""))
    except InvalidTotpError:
        return _enrol_page(400, gettext("Die code klopt niet. Kijk of je de code van leerID in je app neemt, "
                                        "wacht op een nieuwe code en probeer opnieuw."))
    return _page("mijn/security_codes.html", codes=codes, first=True)


@bp.post("/verwijderen")
def remove():
    try:
        totp().remove(g.actor_id, request.form.get("code", ""), request.remote_addr or "unknown")
    except (InvalidTotpError, Throttled) as exc:
        return overview_page(429 if isinstance(exc, Throttled) else 400, code_error(exc), "remove")
    flash(gettext("Je code-app is verwijderd. Je meldt je nu aan met alleen je wachtwoord."), "done")
    return redirect(url_for("mijn_security.overview"), 303)


@bp.post("/herstelcodes")
def renew():
    try:
        codes = totp().renew_recovery_codes(g.actor_id, request.form.get("code", ""),
                                            request.remote_addr or "unknown")
    except (InvalidTotpError, Throttled) as exc:
        return overview_page(429 if isinstance(exc, Throttled) else 400, code_error(exc), "renew")
    return _page("mijn/security_codes.html", codes=codes, first=False)
