"""Blueprint "mijn_mandates": who may act for whom, in Mijn leerID at /mijn/mandaten (DESIGN.md: mandates).

A parent sees the children they may act for. A pupil of 12 or older and every adult sees who may act for them and
what others did in their name. An adult chooses a helper (an `assistant` mandate that waits for that person's yes)
and stops one with one press; everyone answers the proposals that wait for them. Only the signed-in person's own
mandates: another person's mandate id changes nothing and gets the answer an unknown one gets.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

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
from sqlalchemy import select

from idp.accounts import Account
from idp.directory import School, age_on
from idp.errors import InvalidInput, NotFound
from idp.mijn import describe, when
from idp.web import N_, error_page, for_signed_in, services
from mandates.store import ACTIONS, ADULT

bp = Blueprint("mijn_mandates", __name__, url_prefix="/mijn/mandaten")
for_signed_in(bp, "mijn_mandates.overview")
OWN_VIEW_AGE = 12  # from this age a pupil sees who may act for them
MAX_ID = 2**31 - 1
DAY = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")

ACTION_WORDS = {
    "login": N_("aanmelden bij platformen"),
    "consent": N_("toestemming geven"),
    "manage-account": N_("het account beheren"),
    "view-activity": N_("zien wat er gebeurde"),
}
KIND_WORDS = {"parent": N_("ouder"), "school": N_("school"), "assistant": N_("helper")}
STATE_WORDS = {"active": N_("geldt nu"), "proposed": N_("wacht nog op een ja"), "expired": N_("afgelopen"),
               "revoked": N_("ingetrokken")}
DONE_FOR_ME = {  # events of the mandates themselves, as done by someone else (the rest: Mijn leerID's words)
    "mandate_used": N_("Aangemeld bij %(platform)s in jouw naam."),
    "mandate_proposed": N_("Vroeg of iemand voor jou mag optreden."),
    "mandate_accepted": N_("Zei ja tegen een mandaat."),
    "mandate_declined": N_("Zei nee tegen een mandaat."),
}
UNKNOWN_MANDATE = N_("Dit mandaat vonden we niet bij jou. Er is niets veranderd.")
NOT_WAITING = N_("Deze vraag wacht niet (meer) op jou. Er is niets veranderd.")


@dataclass(frozen=True)
class Me:
    account: Account
    sees_own: bool  # 12 or older: sees who may act for them
    adult: bool  # 18 or older: chooses and stops helpers


def me() -> Me:
    with services().db.read() as session:
        account = session.get(Account, g.actor_id)
    age = age_on(account.birthdate, date.today()) if account.birthdate else None
    if age is None:  # no birthdate: a pupil counts as young, anyone else as an adult
        return Me(account, account.role != "pupil", account.role != "pupil")
    return Me(account, age >= OWN_VIEW_AGE, age >= ADULT)


def school_names(held: list) -> dict[int, str]:
    wanted = {h.mandate.actor_school_id for h in held if h.mandate.actor_school_id}
    if not wanted:
        return {}
    with services().db.read() as session:
        return dict(session.execute(select(School.id, School.name).where(School.id.in_(wanted))).all())


def last_day(held) -> date | None:
    """The last day the mandate holds: its end, or for a parent the day before the child turns 18."""
    ends = [held.mandate.valid_until] if held.mandate.valid_until else []
    born = held.represented.birthdate
    if held.mandate.type == "parent" and born:
        adult = date(born.year + ADULT, 3, 1) if (born.month, born.day) == (2, 29) else born.replace(
            year=born.year + ADULT)
        ends.append(adult - timedelta(days=1))
    return min(ends, default=None)


def state_words(held) -> str:
    if held.state == "proposed" and held.mandate.state == "active":
        return gettext("begint op %(day)s", day=held.mandate.valid_from.strftime("%d/%m/%Y"))
    return gettext(STATE_WORDS[held.state])


def platform_names(client_ids) -> list[str]:
    """The platforms' names; empty: every platform."""
    found = [(c, services().clients.find(c)) for c in client_ids or ()]
    return [client.name if client else c for c, client in found]


def what_happened(entry) -> str:
    if entry.event in DONE_FOR_ME:
        return gettext(DONE_FOR_ME[entry.event], platform=entry.platform or gettext("een platform"))
    return describe(entry)


@bp.context_processor
def helpers():
    return {"action_words": lambda actions: [gettext(ACTION_WORDS[a]) for a in actions if a in ACTION_WORDS],
            "kind_words": lambda kind: gettext(KIND_WORDS[kind]), "state_words": state_words,
            "last_day": last_day, "day": lambda d: d.strftime("%d/%m/%Y"), "platform_names": platform_names,
            "what_happened": what_happened, "when": when, "all_actions": ACTION_WORDS}


def page(status: int = 200, problem: str | None = None, form: dict | None = None):
    person, store = me(), services().mandates
    mine = store.list(g.actor_id)
    for_me = [h for h in mine if h.mandate.represented_id == g.actor_id] if person.sees_own else []
    html = render_template(
        "mijn/mandates.html", me=person.account, person=person, section="mandates",
        has_children=bool(store.represented_by(g.actor_id, "consent")),
        acting=[h for h in mine if h.mandate.actor_id == g.actor_id and h.state == "active"],
        for_me=for_me, schools=school_names(for_me), waiting=store.waiting_for(g.actor_id),
        done=services().my_data.done_for_me(g.actor_id) if person.sees_own else [], problem=problem,
        form=form or {"username": "", "actions": [], "until": ""})
    return make_response(html, status)


@bp.get("")
def overview():
    return page()


@bp.post("")
def propose():
    """An adult asks someone they trust to be their helper; it holds once that person says yes."""
    person = me()
    if not person.adult:
        flash(gettext("Alleen een volwassene kan zelf een helper kiezen. Er is niets veranderd."), "error")
        return redirect(url_for(".overview"), 303)
    username, actions = request.form.get("username", "").strip().lower(), request.form.getlist("action")
    until_text = request.form.get("until", "").strip()
    if any(a not in ACTIONS for a in actions):
        return error_page("bad_request", 400)
    form = {"username": username, "actions": actions, "until": until_text}
    until = parse_day(until_text)
    problem = proposal_problem(person, username, actions, until_text, until)
    if problem is None:
        try:
            held = services().mandates.propose(person.account.username, username, "assistant",
                                               proposed_by=g.actor_id, actions=actions, valid_until=until)
        except NotFound:
            problem = N_("We vinden niemand met die gebruikersnaam. Kijk na of je hem goed typte.")
        except InvalidInput:
            problem = N_("Dat kan niet. Kijk je keuzes na en probeer het opnieuw.")
    if problem is not None:
        return page(400, gettext(problem), form)
    flash(gettext("We vroegen het aan %(name)s. Zegt die persoon ja in Mijn leerID, dan kan die je helpen.",
                  name=held.actor.name), "done")
    return redirect(url_for(".overview"), 303)


def parse_day(text: str) -> date | None:
    """A YYYY-MM-DD day (what a date field sends), or None."""
    try:
        return date.fromisoformat(text) if DAY.match(text) else None
    except ValueError:
        return None


def proposal_problem(person: Me, username: str, actions: list, until_text: str, until: date | None) -> str | None:
    if not username:
        return N_("Typ de gebruikersnaam van de persoon die je wilt kiezen.")
    if username == person.account.username:
        return N_("Je kunt jezelf niet kiezen. Kies iemand anders die je vertrouwt.")
    if not actions:
        return N_("Kies minstens één ding dat die persoon voor jou mag doen.")
    if until_text and until is None:
        return N_("Die datum klopt niet. Kies een dag in de kalender.")
    if until is not None and until < date.today():
        return N_("Die dag is al voorbij. Kies vandaag of een dag later.")
    return None


@bp.post("/<int:mandate_id>/intrekken")
def revoke(mandate_id: int):
    """The represented person stops their helper at once (one press); a parent or school mandate is not theirs
    to stop."""
    held = next((h for h in services().mandates.list(g.actor_id)
                 if h.mandate.id == mandate_id and h.mandate.represented_id == g.actor_id), None)
    if held is None:
        flash(gettext(UNKNOWN_MANDATE), "error")
    elif held.mandate.type != "assistant":
        flash(gettext("Dit mandaat kun je hier niet stoppen. Dat doet je school, of leerID zelf. Er is niets "
                      "veranderd."), "error")
    elif held.state in ("revoked", "expired"):
        flash(gettext("Dit mandaat was al gestopt. Er is niets veranderd."), "nothing")
    else:
        services().mandates.revoke(mandate_id, revoked_by=g.actor_id)
        flash(gettext("Klaar. %(name)s kan niets meer voor jou doen.", name=held.actor.name), "done")
    return redirect(url_for(".overview"), 303)


@bp.post("/<int:mandate_id>/antwoord")
def answer(mandate_id: int):
    """Yes or no to a proposal that waits for this person."""
    said, store = request.form.get("answer"), services().mandates
    if said not in ("yes", "no"):
        return error_page("bad_request", 400)
    try:
        if mandate_id > MAX_ID:
            raise NotFound("no such mandate")
        held = store.accept(mandate_id, g.actor_id) if said == "yes" else store.decline(mandate_id, g.actor_id)
    except NotFound:
        flash(gettext(NOT_WAITING), "error")
        return redirect(url_for(".overview"), 303)
    if said == "no":
        flash(gettext("Je zei nee. Dit mandaat gaat niet door."), "done")
    elif held.state != "active":
        flash(gettext("Je zei ja. We wachten nog op het antwoord van de anderen."), "done")
    elif held.mandate.actor_id == g.actor_id:
        flash(gettext("Je zei ja. Je kunt nu voor %(name)s optreden.", name=held.represented.name), "done")
    else:
        flash(gettext("Je zei ja. %(name)s kan nu voor jou optreden.", name=held.actor.name), "done")
    return redirect(url_for(".overview"), 303)
