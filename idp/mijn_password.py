"""Blueprint "mijn_password": in Mijn leerID the signed-in person changes their password, at
/mijn/beveiliging/wachtwoord (issue 6, item 1).

The current password first (judged like a login's by the Guard: delays, lock, per source, device cookie), then the new one twice, under the
same rules as /activeren (idp/password_rules.py). Afterwards every other SSO session of the person has ended and
this browser goes on under a new cookie; the platforms' refresh tokens stay valid (a pupil's apps on the class
tablets keep working), unless the person ticks "sign me out of every app too" because someone else may know the
old password. Audited as `password_changed`.
"""
from __future__ import annotations

import math
import time

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

from idp import password_rules as rules
from idp.activation import PasswordChange, WeakPassword
from idp.activation_views import hint_words, password_rules, refusal
from idp.errors import InvalidCredentials, Throttled
from idp.web import device_cookie, for_signed_in, services, set_sso_cookie, signed_in

bp = Blueprint("mijn_password", __name__, url_prefix="/mijn/beveiliging/wachtwoord")
for_signed_in(bp, "mijn_password.show")


def change_service() -> PasswordChange:
    container = services()
    return PasswordChange(container.db, container.passwords, password_rules(), container.guard, container.sessions)


def _page(status: int = 200, error: str | None = None, wrong: str | None = None):
    """`wrong`: the field the error is about (current or password)."""
    container = services()
    person, has_password = change_service().chooser(g.actor_id)
    has_children = bool(container.mandates.represented_by(g.actor_id, "consent"))
    return make_response(render_template(
        "mijn/password.html", me=container.my_data.person(g.actor_id), section="security",
        has_children=has_children, has_password=has_password, minimum=password_rules().minimum(person.roles),
        error=error, wrong=wrong, words=hint_words(), maximum=rules.MAX_LENGTH), status)


def _wait(seconds: int) -> str:
    if seconds < 60:
        return gettext("Je hebt te vaak een fout wachtwoord getypt. Wacht %(seconds)s seconden en probeer dan "
                       "opnieuw.", seconds=seconds)
    return gettext("Je hebt te vaak een fout wachtwoord getypt. Wacht %(minutes)s minuten en probeer dan opnieuw.",
                   minutes=(seconds + 59) // 60)


@bp.get("")
def show():
    return _page()


@bp.post("")
def change():
    form = request.form
    current, new = form.get("current_password", ""), form.get("password", "")
    if new != form.get("password_again", ""):
        return _page(400, gettext("De twee nieuwe wachtwoorden zijn niet hetzelfde. Typ ze opnieuw."), "password")
    sso = signed_in()
    try:
        cookie = change_service().change(sso, current, new, request.remote_addr or "unknown", device_cookie(),
                                         sign_out_apps=form.get("sign_out_apps") == "yes")
    except Throttled as exc:  # Locked too
        return _page(429, _wait(exc.retry_after), "current")
    except InvalidCredentials:
        return _page(400, gettext("Je huidige wachtwoord klopt niet. Typ het opnieuw."), "current")
    except WeakPassword as exc:
        return _page(400, refusal(exc.verdict), "password")
    if cookie is None:  # this session was logged out meanwhile (log out everywhere): it stays so
        flash(gettext("Je wachtwoord is veranderd. Je was intussen overal afgemeld: meld je opnieuw aan."), "done")
        return set_sso_cookie(redirect(url_for("mijn_security.overview"), 303), None)
    flash(gettext("Je wachtwoord is veranderd. Op andere computers, tablets en gsm's ben je nu afgemeld."), "done")
    return set_sso_cookie(redirect(url_for("mijn_security.overview"), 303), cookie, _left(sso))


def _left(sso) -> int | None:
    """What is left of the session's lifetime (a new cookie does not lengthen it); None on a shared device."""
    if sso.shared:
        return None
    lifetime = sso.lifetime or services().settings.session_max_age
    return max(1, math.ceil(sso.created_at + lifetime - time.time()))
