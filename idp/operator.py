"""Blueprint "operator": the page where leerID's operator decides on vendors' requests to change a policy."""
from __future__ import annotations

from zoneinfo import ZoneInfo

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

from clients.policies import UnknownRequest
from idp.accounts import AccountRepository
from idp.attribute_text import label
from idp.enrol_views import second_factor_first
from idp.web import error_page, for_signed_in, services

bp = Blueprint("operator", __name__, url_prefix="/operator")
BRUSSELS = ZoneInfo("Europe/Brussels")


for_signed_in(bp, "operator.requests")


@bp.before_request
def operators_only():
    with services().db.read() as session:
        account = AccountRepository(session).find(g.actor_id)
        if account is None or not account.operator:
            return error_page("not_operator", 403)
    return None


second_factor_first(bp, "operator.requests")  # an operator's session has a second factor (issue 6, item 3)


@bp.get("")
def requests():
    policies = services().policies
    pending = policies.requests("pending")
    decided = [row for row in policies.requests(None) if row[0].status != "pending"][-20:][::-1]
    platforms = [c for c in services().clients.all() if c.school_id is None]
    html = render_template("operator/requests.html", pending=pending, decided=decided, platforms=platforms,
                           label=lambda name: label(name, gettext),
                           labels=lambda names: ", ".join(label(name, gettext) for name in names),
                           when=lambda moment: moment.astimezone(BRUSSELS).strftime("%d-%m-%Y %H:%M"))
    return make_response(html)


@bp.post("/aanvragen/<int:request_id>")
def decide(request_id: int):
    decision, reason = request.form.get("decision"), request.form.get("reason", "").strip()
    if decision not in ("approve", "refuse"):
        return error_page("bad_request", 400)
    if decision == "refuse" and not reason:
        flash(gettext("Schrijf waarom je de aanvraag weigert. De leverancier krijgt die uitleg."), "error")
        return redirect(url_for("operator.requests"), 303)
    try:
        done = services().policies.decide(request_id, decision == "approve", g.actor_id, reason or None)
    except UnknownRequest:
        flash(gettext("Over deze aanvraag is al beslist."), "error")
        return redirect(url_for("operator.requests"), 303)
    if done.status == "approved":
        flash(gettext("Goedgekeurd. Versie %(version)s van het beleid geldt nu.", version=done.version), "status")
    else:
        flash(gettext("Geweigerd. Het beleid blijft zoals het was."), "status")
    return redirect(url_for("operator.requests"), 303)
