"""Blueprint "mijn_parent": in Mijn leerID, a parent decides on their young children's consent requests.

A pupil younger than the digital consent age cannot consent alone to a `consent`-basis platform; the request
waits here for a parent who holds a `parent` mandate with `consent` for the pupil (DESIGN.md, mandates).
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
from flask_babel import get_locale, gettext

from clients.consents import RequestChanged, RequestGone
from idp.accounts import AccountRepository
from idp.attribute_text import lines, purpose
from idp.claims import attribute_values
from idp.web import error_page, for_signed_in, services

bp = Blueprint("mijn_parent", __name__, url_prefix="/mijn/kinderen")
for_signed_in(bp, "mijn_parent.children")


class Family:
    """The pupils this parent may decide consents for today (parent mandates with `consent`), per platform."""

    def __init__(self, actor_id: str):
        self.held = [h for h in services().mandates.represented_by(actor_id, "consent") if h.mandate.type == "parent"]
        self.children = {h.represented.id: h.represented for h in self.held}

    def may_decide(self, account_id: str, client_id: str) -> bool:
        return any(h.represented.id == account_id and h.mandate.allows("consent", client_id) for h in self.held)

    def pending(self) -> list:
        return [item for item in services().consents.pending_for(self.children)
                if self.may_decide(item.account_id, item.client_id)]


def _request_view(item, child) -> dict | None:
    container = services()
    client = container.clients.find(item.client_id)
    if client is None:
        return None
    policy = container.policies.current(client)
    language = get_locale().language if get_locale() else "nl"
    with container.db.read() as session:
        values = attribute_values(AccountRepository(session).find(child.id))
    return {"id": item.id, "child": child, "client": client,
            "lines": lines(in_policy_order(item.attributes, policy), policy, values, language, gettext),
            "purpose": purpose(policy, client, language),
            "retention": policy.retention_days if policy else None, "version": item.policy_version,
            "attributes": item.attributes, "outdated": item.policy_version != client.policy_version}


@bp.get("")
def children():
    family = Family(g.actor_id)
    requests = [view for item in family.pending()
                if (view := _request_view(item, family.children[item.account_id])) is not None]
    with services().db.read() as session:
        me = AccountRepository(session).find(g.actor_id)
    return make_response(render_template("mijn/children.html", children=list(family.children.values()),
                                         requests=requests, me=me, section="children",
                                         has_children=bool(family.children)))


@bp.post("/verzoeken/<int:request_id>")
def decide(request_id: int):
    """The parent's yes or no, about exactly what their page showed (its version and attributes)."""
    decision, version = request.form.get("decision"), request.form.get("version", "")
    if decision not in ("allow", "deny") or not (version.isascii() and version.isdigit() and len(version) < 9):
        return error_page("bad_request", 400)
    container, family = services(), Family(g.actor_id)
    pending = next((item for item in family.pending() if item.id == request_id), None)
    client = container.clients.find(pending.client_id) if pending else None
    if pending is None or client is None:
        flash(gettext("Over dit verzoek is al beslist, of het is niet voor jouw kind."), "error")
        return redirect(url_for("mijn_parent.children"), 303)
    shown = (int(version), request.form.getlist("attribute"))
    kept = request.form.getlist("keep")
    policy = container.policies.current(client)
    declined = [r.name for r in policy.document.rules if r.optional and r.name not in kept] if policy else []
    name = family.children[pending.account_id].given_name
    try:
        done = container.consents.decide(request_id, decision == "allow", g.actor_id, family.may_decide, shown,
                                         declined)
    except RequestGone:
        flash(gettext("Over dit verzoek is al beslist, of het is niet voor jouw kind."), "error")
    except RequestChanged:
        flash(gettext("Dit platform vraagt intussen iets anders. Kijk het verzoek opnieuw na."), "error")
    else:
        if done.status == "approved":
            flash(gettext("Je zei ja. %(name)s kan %(platform)s nu gebruiken.", name=name, platform=client.name),
                  "status")
        else:
            flash(gettext("Je zei nee. %(platform)s krijgt niets over %(name)s.", name=name, platform=client.name),
                  "status")
    return redirect(url_for("mijn_parent.children"), 303)


def in_policy_order(names: list[str], policy) -> list[str]:
    """The attributes in the order the platform's policy lists them, as the pupil's consent page shows them."""
    order = policy.document.names if policy is not None else []
    return sorted(names, key=lambda name: order.index(name) if name in order else len(order))
