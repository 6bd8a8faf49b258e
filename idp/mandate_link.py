"""Blueprint "mandate_link": at /mijn/koppelen a parent types the code from the school's letter, and so accepts
the parent mandate the school registered for their child (mandates/links.py).

The parent is signed in with their own leerID; the code works for that parent only, once, for 14 days. Wrong
codes are counted per person and per source address: past the limit even the right code waits.
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

from idp.web import for_signed_in, services
from mandates.links import InvalidLinkCode, MandateLinks

bp = Blueprint("mandate_link", __name__, url_prefix="/mijn/koppelen")
for_signed_in(bp, "mandate_link.show")
MAX_ATTEMPTS = 10  # wrong codes per person per window
MAX_ATTEMPTS_PER_SOURCE = 20  # wrong codes per source address per window


def _page(status: int = 200, error: str | None = None, code: str = ""):
    container = services()
    me = container.my_data.person(g.actor_id)
    has_children = bool(container.mandates.represented_by(g.actor_id, "consent"))
    return make_response(render_template("mandate_link.html", me=me, section="link", has_children=has_children,
                                         error=error, code=code), status)


def _attempts() -> list[tuple[str, str]]:
    return [("mandate-link-attempts", g.actor_id), ("mandate-link-source", request.remote_addr or "unknown")]


@bp.get("")
def show():
    return _page()


@bp.post("")
def link():
    container = services()
    code = request.form.get("code", "")[:64]
    counts = [container.store.count(kind, ident, container.settings.login_window)[0] for kind, ident in _attempts()]
    if counts[0] > MAX_ATTEMPTS or counts[1] > MAX_ATTEMPTS_PER_SOURCE:
        return _page(429, gettext("Je hebt te vaak een verkeerde code ingetypt. Wacht een kwartier en probeer dan "
                                  "opnieuw."), code)
    try:
        held = MandateLinks(container.db, container.mandates).redeem(code, g.actor_id)
    except InvalidLinkCode:
        return _page(400, gettext("Deze code klopt niet, is al gebruikt of is verlopen. Kijk de code op de brief "
                                  "goed na, en meld je aan met de gebruikersnaam die op de brief staat. Lukt het "
                                  "niet? Vraag de school dan om een nieuwe brief."), code)
    for kind, ident in _attempts():
        container.store.uncount(kind, ident)
    flash(gettext("Gelukt: je bent nu gekoppeld aan %(name)s. Meld je je aan bij een leerplatform, dan kun je "
                  "kiezen om dat voor %(name)s te doen.", name=held.represented.name), "done")
    return redirect(url_for("mandate_link.show"), 303)
