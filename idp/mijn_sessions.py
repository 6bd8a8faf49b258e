"""Blueprint "mijn_sessions": Mijn leerID > Mijn sessies (/mijn/sessies), where a person sees where they are logged in
(device and browser, the place when leerID knows it, since when, last used, which platforms), logs out one session
or everywhere (every session and every refresh token; the platforms hear of it by back-channel logout).

The work is SessionEnding's (idp/sessions.py); this module turns HTTP into calls on it, and describes sessions in
words for these pages and the school console's (idp/console_sessions.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from flask import (
    Blueprint,
    flash,
    g,
    get_flashed_messages,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext

from idp.mijn import when
from idp.sessions import Place, SsoSession
from idp.web import for_signed_in, services, set_sso_cookie, signed_in

bp = Blueprint("mijn_sessions", __name__, url_prefix="/mijn/sessies")
for_signed_in(bp, "mijn_sessions.overview")


@dataclass(frozen=True)
class SessionRow:
    """A session as a page shows it."""

    sid: str
    device: str  # "Chrome op Windows"
    place: str | None  # the school whose network it came from, when known (and shown)
    since: datetime
    last_used: datetime
    platforms: tuple[str, ...]  # by name
    others: int  # platforms not named (the console names only its own school's)
    shared: bool
    current: bool  # this browser's


def device_words(session: SsoSession) -> str:
    if session.browser and session.system:
        return gettext("%(browser)s op %(system)s", browser=session.browser, system=session.system)
    if session.browser or session.system:
        return session.browser or gettext("Een browser op %(system)s", system=session.system)
    return gettext("Een onbekend toestel")


def rows(sessions: list[SsoSession], current: str | None = None, school: str | None = None,
         platforms: set[str] | None = None) -> list[SessionRow]:
    """The sessions in words; for a school's console (`school`, `platforms`: its number and the client ids it
    took on) only that school's place and platforms are named."""
    clients = services().clients
    found = []
    for s in sessions:
        place = (s.place or {}).get("name") if school is None or (s.place or {}).get("number") == school else None
        shown = [c for c in s.clients if platforms is None or c in platforms]
        names = tuple(client.name if (client := clients.find(c)) is not None else c for c in shown)
        found.append(SessionRow(s.sid, device_words(s), place, _moment(s.created_at),
                                _moment(s.last_used or s.created_at), names, len(s.clients) - len(shown), s.shared,
                                s.sid == current))
    return found


def _moment(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


@bp.app_template_global()
def login_place() -> Place | None:
    """The school whose network this page is opened from (for the login page's shared-device choice), or None."""
    return services().session_policy.place(request.remote_addr)


def _page(status: int = 200):
    container = services()
    me = container.my_data.person(g.actor_id)
    has_children = bool(container.mandates.represented_by(g.actor_id, "consent"))
    found = rows(container.sessions.sessions_of(g.actor_id), current=signed_in().sid)
    html = render_template("mijn/sessions.html", me=me, section="sessions", has_children=has_children,
                           sessions=found, when=when)
    return make_response(html, status)


@bp.get("")
def overview():
    return _page()


@bp.post("/<sid>/afmelden")
def end_one(sid: str):
    """Log out one session (its platforms are told); this browser's own ends the visit too."""
    current = signed_in().sid
    ended = services().session_ending.end_one(g.actor_id, sid[:64], actor_id=g.actor_id)
    if ended is not None and ended.sid == current:
        return _done(gettext("Je bent afgemeld op dit toestel."))
    if ended is None:
        flash(gettext("Die sessie was al afgelopen. Er is niets veranderd."), "nothing")
    else:
        flash(gettext("Je bent afgemeld op %(device)s.", device=device_words(ended)), "done")
    return redirect(url_for("mijn_sessions.overview"), 303)


@bp.post("/overal")
def everywhere():
    """Log out everywhere: every session (this one too) and every app's refresh tokens."""
    services().session_ending.end_everywhere(g.actor_id, actor_id=g.actor_id)
    return _done(gettext("Je bent overal afgemeld: op elk toestel en in elke app. De apps krijgen er bericht van."))


def _done(message: str):
    """Logged out in this browser too: on to a page that says so (Mijn leerID itself needs a login)."""
    flash(message, "signed_out")
    return set_sso_cookie(redirect(url_for("mijn_signed_out.done"), 303), None)


signed_out = Blueprint("mijn_signed_out", __name__, url_prefix="/mijn")


@signed_out.get("/afgemeld")
def done():
    html = render_template("mijn/sessions_done.html", messages=get_flashed_messages(category_filter=["signed_out"]))
    response = make_response(html, 200)
    response.headers["Cache-Control"] = "no-store"
    return response
