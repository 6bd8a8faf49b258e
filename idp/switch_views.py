"""Blueprint "switch": "Ben jij dit niet? Wissel van leerling" on the login page of a shared tablet.

When someone is still signed in in this browser, the login page names them by first name only (the next pupil may be
reading) and offers to switch: that ends the session there and then, with back-channel logouts to its platforms
(queued, idp/backchannel.py), and shows the same login request again with an empty form, so the next pupil starts
clean without closing the browser.
"""
from __future__ import annotations

from flask import Blueprint, flash, redirect, request, url_for
from flask_babel import gettext

from idp.accounts import AccountRepository
from idp.interactions import Interaction
from idp.web import SSO_COOKIE, binding, error_page, services, set_sso_cookie

bp = Blueprint("switch", __name__, url_prefix="/interaction")
SWITCHED = "switched"  # the flash category the login page shows after a switch


def first_name(sso, account=None) -> str | None:
    """The first name of whoever is signed in in this browser (`sso`, the login page's one read of it; `account`:
    theirs when the page already loaded it), or None; nothing more about them."""
    if sso is None:
        return None
    if account is None or account.id != sso.account_id:
        with services().db.read() as session:
            account = AccountRepository(session).find(sso.account_id)
    return account.given_name if account is not None else None


@bp.post("/<uid>/wissel")
def switch(uid: str):
    """End this browser's session (the platforms hear of it by back-channel), then the login request's empty form."""
    container = services()
    interaction = container.interactions.load(uid, binding())
    if interaction is None:
        return error_page("expired", 400)
    ended = container.sessions.end(request.cookies.get(SSO_COOKIE))
    if ended is not None:
        container.backchannel.session_ended(ended)
    # The same request from the start: nothing the previous person did in it counts, and no login_hint shows their
    # username (the platform may have sent it for them).
    params = {k: v for k, v in interaction.params.items() if k != "login_hint"}
    container.interactions.save(Interaction(uid=interaction.uid, params=params, binding=interaction.binding,
                                            step="login", return_to=interaction.return_to))
    if ended is not None:
        flash(gettext("Wie hier aangemeld was, is nu afgemeld. Meld je aan met je eigen naam."), SWITCHED)
    return set_sso_cookie(redirect(url_for("interaction.show", uid=interaction.uid), 303), None)
