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

from idp.accounts import AccountRepository
from idp.attribute_text import label, shown
from idp.claims import attribute_values
from idp.web import ask_login, error_page, services, signed_in

bp = Blueprint("mijn_parent", __name__, url_prefix="/mijn/kinderen")


@bp.before_request
def signed_in_only():
    sso = signed_in()
    if sso is None or not services().accounts.is_active(sso.account_id):
        return ask_login(request.path if request.method == "GET" else url_for("mijn_parent.children"))
    g.actor_id = sso.account_id
    return None


@bp.after_request
def private(response):
    response.headers["Cache-Control"] = "no-store"
    return response


def _children() -> dict:
    """The pupils this parent may decide consents for today, by account id."""
    held = services().mandates.represented_by(g.actor_id, "consent")
    return {h.represented.id: h.represented for h in held if h.mandate.type == "parent"}


def _request_view(item, child) -> dict | None:
    container = services()
    client = container.clients.find(item.client_id)
    if client is None:
        return None
    policy = container.policies.current(client)
    language = get_locale().language if get_locale() else "nl"
    with container.db.read() as session:
        values = attribute_values(AccountRepository(session).find(child.id))
    lines = []
    for name in item.attributes:
        rule = policy.rule(name) if policy else None
        lines.append({"name": name, "label": label(name, gettext), "value": shown(name, values.get(name), gettext),
                      "why": (rule.why.get(language) or rule.why.get("nl")) if rule else None,
                      "optional": bool(rule and rule.optional)})
    purpose = policy.purpose if policy else {}
    return {"id": item.id, "child": child, "client": client, "lines": lines,
            "purpose": purpose.get(language) or purpose.get("nl") or client.purpose,
            "retention": policy.retention_days if policy else None,
            "outdated": item.policy_version != client.policy_version}


@bp.get("")
def children():
    kids = _children()
    pending = services().consents.pending_for(kids)
    requests = [view for item in pending if (view := _request_view(item, kids[item.account_id])) is not None]
    with services().db.read() as session:
        me = AccountRepository(session).find(g.actor_id)
    return make_response(render_template("mijn/children.html", children=list(kids.values()), requests=requests,
                                         me=me, section="children", has_children=bool(kids)))


@bp.post("/verzoeken/<int:request_id>")
def decide(request_id: int):
    decision = request.form.get("decision")
    if decision not in ("allow", "deny"):
        return error_page("bad_request", 400)
    container, kids = services(), _children()
    pending = next((item for item in container.consents.pending_for(kids) if item.id == request_id), None)
    client = container.clients.find(pending.client_id) if pending else None
    if pending is None or client is None:
        flash(gettext("Over dit verzoek is al beslist, of het is niet voor jouw kind."), "error")
        return redirect(url_for("mijn_parent.children"), 303)
    policy = container.policies.current(client)
    kept = request.form.getlist("keep")
    declined = [r.name for r in policy.document.rules if r.optional and r.name not in kept] if policy else []
    done = container.consents.decide(request_id, decision == "allow", g.actor_id, lambda child: child in kids,
                                     current_version=client.policy_version, declined=declined)
    name = kids[pending.account_id].given_name
    if done is None:
        flash(gettext("Dit platform vraagt intussen iets anders. %(name)s moet het opnieuw proberen; dan krijg je "
                      "een nieuw verzoek.", name=name), "error")
    elif done.status == "approved":
        flash(gettext("Je zei ja. %(name)s kan %(platform)s nu gebruiken.", name=name, platform=client.name),
              "status")
    else:
        flash(gettext("Je zei nee. %(platform)s krijgt niets over %(name)s.", name=name, platform=client.name),
              "status")
    return redirect(url_for("mijn_parent.children"), 303)
