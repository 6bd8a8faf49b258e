"""Blueprint "console_badges": QR badges in the school console (/beheer).

A school's administrators print a class's badges (a page to print: per pupil the name, the QR code and the short
code under it, no photo), replace or revoke a pupil's badge, print a day badge for a lost one, and set the school's
badge limits (network ranges, the PIN or picture). A teacher of a class (a current teacher membership of that
class) reaches that class only: its badge page, day badges and revoking, at /beheer/badges. BadgeDesk checks the
actor on every call; whatever is not theirs is the same 404 page as what does not exist.
"""
from __future__ import annotations

import segno
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

from idp.badge_views import PICTURE_NAMES
from idp.badges import BadgeDesk, BadgeRefused
from idp.enrol_views import second_factor_first
from idp.errors import NotFound
from idp.web import N_, error_page, for_signed_in, services

bp = Blueprint("console_badges", __name__, url_prefix="/beheer")
for_signed_in(bp, "console_badges.taught")
# Badges open pupils' accounts: an administrator's or teacher's session has a second factor, like the console's.
second_factor_first(bp, "console_badges.taught", applies=lambda: bool(
    desk().classes_taught(g.actor_id) or services().school_admin.schools_of(g.actor_id)))

REFUSALS = {
    "too_old": N_("Badges zijn alleen voor leerlingen jonger dan %(age)s jaar. Deze leerling meldt zich aan met een "
                  "gebruikersnaam en een wachtwoord."),
    "disabled": N_("Het account van deze leerling is uitgeschakeld. Een badge kan pas als het account weer werkt."),
    "no_badge": N_("Deze leerling heeft geen badge die werkt. Er is niets ingetrokken."),
    "bad_network": N_("Dat is geen netwerkbereik. Schrijf elk bereik zoals 192.0.2.0/24 of 2001:db8::/48, met een "
                      "spatie, een komma of een nieuwe regel ertussen."),
    "too_many_networks": N_("Dat zijn te veel netwerkbereiken. Geef er hoogstens 32."),
    "network_too_broad": N_("Dat netwerkbereik is te groot: het zou ook de netwerken van andere scholen bevatten. Geef "
                            "alleen de netwerken van je school, zoals 192.0.2.0/24. Een bereik eindigt op /16 of meer "
                            "(bij IPv6 op /32 of meer)."),
    "bad_step": N_("Kies wat een leerling na het scannen van de badge nog moet doen."),
}
STEPS = {"none": N_("niets: de badge alleen"), "pin": N_("een pincode van vier cijfers"),
         "picture": N_("een prentje kiezen uit negen")}
ACTIONS = {"nieuw": "reissue", "dag": "day_badge"}  # answered with a badge to print


def desk() -> BadgeDesk:
    container = services()
    s = container.settings
    return BadgeDesk(container.db, s.secret_keys, s.issuer, max_age=s.badge_max_age,
                     on_revoke=lambda account_id: container.sessions.end_all(account_id, tell=True))


@bp.errorhandler(NotFound)
def not_theirs(_exc):
    return error_page("not_found", 404)


@bp.context_processor
def words():
    return {"step_name": lambda step: gettext(STEPS.get(step, step)),
            "picture_name": lambda name: gettext(PICTURE_NAMES[name])}


def _url_id(text: str) -> int:
    if not (text.isascii() and text.isdigit() and len(text) <= 9):
        raise NotFound("no such class")
    return int(text)


def _refusal(reason: str) -> str:
    return gettext(REFUSALS[reason], age=services().settings.badge_max_age)


def _layout(number: str, admin: bool) -> dict:
    """An administrator sees the console around the page; a teacher a page of their own classes."""
    if admin:
        return {"layout": "beheer/layout.html", "console": services().school_admin.console(g.actor_id, number),
                "section": "classes"}
    return {"layout": "beheer/badge_teacher.html", "console": None, "section": None}


@bp.get("/badges")
def taught():
    """The classes the signed-in teacher teaches today, each with its badges."""
    html = render_template("beheer/badges_taught.html", classes=desk().classes_taught(g.actor_id),
                           layout="beheer/badge_teacher.html", console=None)
    return make_response(html)


@bp.get("/<number>/klassen/<class_id>/badges")
def school_class(number: str, class_id: str):
    return _class_page(number, _url_id(class_id))


def _class_page(number: str, class_id: int, status: int = 200, refused: str | None = None):
    found = desk().class_badges(g.actor_id, number, class_id)
    html = render_template("beheer/badges_class.html", found=found, refused=refused, today=desk().today(),
                           max_age=services().settings.badge_max_age, **_layout(number, found.admin))
    return make_response(html, status)


@bp.post("/<number>/klassen/<class_id>/badges/afdrukken")
def print_class(number: str, class_id: str):
    found = _url_id(class_id)
    printed = desk().print_class(g.actor_id, number, found, everyone=request.form.get("wie") == "iedereen")
    return _printed(printed, number, found)


@bp.post("/<number>/klassen/<class_id>/badges/<account_id>/<word>")
def change(number: str, class_id: str, account_id: str, word: str):
    found = _url_id(class_id)
    if word == "intrekken":
        try:
            name = desk().revoke(g.actor_id, number, found, account_id)
        except BadgeRefused as exc:
            return _class_page(number, found, 409, _refusal(exc.reason))
        flash(gettext("De badge van %(name)s werkt niet meer.", name=name), "done")
        return redirect(url_for("console_badges.school_class", number=number, class_id=found), 303)
    if word not in ACTIONS:
        raise NotFound("no such action")
    try:
        printed = getattr(desk(), ACTIONS[word])(g.actor_id, number, found, account_id)
    except BadgeRefused as exc:
        return _class_page(number, found, 409, _refusal(exc.reason))
    return _printed([printed], number, found)


def _printed(printed: list, number: str, class_id: int):
    """New badges, shown once as a page to print: their secrets are never stored, never in a URL."""
    badges = [(p, segno.make(p.url, error="m").svg_inline(scale=5, border=4, light="#fff", omitsize=True))
              for p in printed]
    secrets_shown = [p for p in printed if p.answer]
    html = render_template("beheer/badges_print.html", badges=badges, answers=secrets_shown,
                           back=url_for("console_badges.school_class", number=number, class_id=class_id))
    return make_response(html, 200)


@bp.get("/<number>/badges")
def settings(number: str):
    networks, step = desk().settings(g.actor_id, number)
    return _settings_page(number, "\n".join(networks), step)


def _settings_page(number: str, networks: str, step: str, status: int = 200, error: str | None = None):
    html = render_template("beheer/badges_settings.html", networks=networks, step=step, error=error,
                           steps=list(STEPS), **_layout(number, True) | {"section": "school"})
    return make_response(html, status)


@bp.post("/<number>/badges")
def save_settings(number: str):
    networks, step = request.form.get("netwerken", "")[:4000], request.form.get("stap", "")
    desk().settings(g.actor_id, number)  # someone else: the same 404 before anything is looked at
    try:
        desk().save_settings(g.actor_id, number, networks, step)
    except BadgeRefused as exc:
        return _settings_page(number, networks, step, 400, _refusal(exc.reason))
    flash(gettext("De instellingen voor badges zijn bewaard."), "done")
    return redirect(url_for("console_badges.settings", number=number), 303)
