"""Blueprint "console_sessions": sessions in the school console (/beheer).

An administrator sees where a pupil of their school is logged in (on the pupil's page) and logs them out there, one
session or everywhere (every session and every refresh token), like the pupil can in Mijn leerID; audited with the
administrator and the school. The page names only this school's place and this school's platforms. And the school's
device policy (`/beheer/<n>/toestellen`): whether the login page asks "Dit is een gedeeld toestel" (ask), or the
school's devices are shared (short sessions for its people, wherever they log in) or personal (the page does not ask
on the school's network). Every call checks, like the console's, that the signed-in person administers the school
today; another school's person, anyone who is not a pupil here, or a malformed id is the same 404 page.
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

from idp import audit
from idp.enrol_views import second_factor_first
from idp.errors import NotFound
from idp.mijn import when
from idp.mijn_sessions import device_words, rows
from idp.school_admin import administered
from idp.sessions import DEVICE_POLICIES
from idp.web import N_, error_page, for_signed_in, services

bp = Blueprint("console_sessions", __name__, url_prefix="/beheer")
for_signed_in(bp, "console.index")
second_factor_first(bp, "console.index", applies=lambda: bool(services().school_admin.schools_of(g.actor_id)))

POLICIES = {"ask": N_("Vraag het bij het aanmelden: de leerling of leerkracht vinkt aan of het toestel gedeeld is"),
            "shared": N_("Gedeeld: de toestellen van de school worden door verschillende leerlingen gebruikt. Iedereen "
                         "van de school wordt sneller afgemeld, ook thuis."),
            "personal": N_("Eigen toestel: elke leerling heeft een eigen laptop of tablet. Op het netwerk van de school "
                           "vraagt leerID niet of het toestel gedeeld is.")}


@bp.errorhandler(NotFound)
def not_theirs(_exc):
    return error_page("not_found", 404)


def _pupil(number: str, account_id: str) -> tuple[int, set[str]]:
    """A pupil of this school today, for an administrator of it: (the school's id, the platforms it took on)."""
    container = services()
    with container.db.read() as session:
        scope = administered(session, g.actor_id, number, container.school_admin.clock())
        person = scope.person(account_id, current=True)  # another school's person: NotFound
        if "pupil" not in {m.role for m in scope.current_memberships(person)}:
            raise NotFound("not a pupil of this school")
        taken = {client_id for client_id, _, activation in scope.platforms()
                 if activation is not None and activation.ended_at is None}
        return scope.school.id, taken


@bp.app_template_global()
def console_sessions_of(number: str, account_id: str):
    """For the person page: the pupil's sessions as this school may see them, or None for someone not a pupil here."""
    try:
        _, taken = _pupil(number, account_id)
    except NotFound:
        return None
    return rows(services().sessions.sessions_of(account_id), school=number, platforms=taken)


@bp.app_template_global()
def session_when(moment) -> str:
    return when(moment)


def _back(number: str, account_id: str):
    return redirect(url_for("console.person", number=number, account_id=account_id) + "#sessies", 303)


@bp.post("/<number>/personen/<account_id>/sessies/<sid>/afmelden")
def end_one(number: str, account_id: str, sid: str):
    school_id, _ = _pupil(number, account_id)
    ended = services().session_ending.end_one(account_id, sid[:64], actor_id=g.actor_id, school=(school_id, number))
    if ended is None:
        flash(gettext("Die sessie was al afgelopen. Er is niets veranderd."), "nothing")
    else:
        flash(gettext("De leerling is afgemeld op %(device)s.", device=device_words(ended)), "done")
    return _back(number, account_id)


@bp.post("/<number>/personen/<account_id>/sessies/overal")
def everywhere(number: str, account_id: str):
    school_id, _ = _pupil(number, account_id)
    services().session_ending.end_everywhere(account_id, actor_id=g.actor_id, school=(school_id, number))
    flash(gettext("De leerling is overal afgemeld: op elk toestel en in elke app."), "done")
    return _back(number, account_id)


# --- the school's device policy -------------------------------------------------------------------------------


def _policy_page(number: str, policy: str, status: int = 200, error: str | None = None):
    console = services().school_admin.console(g.actor_id, number)
    html = render_template("beheer/sessions_policy.html", console=console, section="school", policy=policy,
                           policies=DEVICE_POLICIES, error=error, describe=lambda p: gettext(POLICIES[p]))
    return make_response(html, status)


def _current_policy(number: str) -> str:
    container = services()
    with container.db.read() as session:  # not an administrator of it: 404, nothing read
        return administered(session, g.actor_id, number, container.school_admin.clock()).school.device_policy


@bp.get("/<number>/toestellen")
def policy(number: str):
    return _policy_page(number, _current_policy(number))


@bp.post("/<number>/toestellen")
def save_policy(number: str):
    container, chosen = services(), request.form.get("toestellen", "")
    current = _current_policy(number)
    if chosen not in DEVICE_POLICIES:
        return _policy_page(number, current, 400, gettext("Kies een van de drie mogelijkheden."))
    with container.db.transaction() as session:
        scope = administered(session, g.actor_id, number, container.school_admin.clock())
        before, scope.school.device_policy = scope.school.device_policy, chosen
        if before != chosen:
            audit.record(session, "device_policy_changed", actor_id=g.actor_id, school_id=scope.school.id,
                         detail={"school": number, "from": before, "to": chosen})
    flash(gettext("De instelling voor toestellen is bewaard. Ze geldt voor elke nieuwe aanmelding."), "done")
    return redirect(url_for("console_sessions.policy", number=number), 303)
