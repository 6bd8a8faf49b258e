"""Blueprint "activation": the first-login page where a code from a letter leads to choosing a password."""
from __future__ import annotations

from flask import Blueprint, make_response, render_template, request
from flask_babel import gettext

from idp.activation import MIN_PASSWORD, InvalidActivationCode, WeakPassword
from idp.web import services

bp = Blueprint("activation", __name__, url_prefix="/activeren")
MAX_ATTEMPTS = 20  # wrong codes per source address per window


def _page(status: int = 200, error: str | None = None, code: str = ""):
    response = make_response(render_template("activate.html", error=error, code=code,
                                             minimum=min(MIN_PASSWORD.values())), status)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("")
def show():
    return _page()


@bp.post("")
def activate():
    container = services()
    code, password = request.form.get("code", "")[:64], request.form.get("password", "")
    attempts, _ = container.store.count("activation-attempts", request.remote_addr or "unknown",
                                        container.settings.login_window)
    if attempts > MAX_ATTEMPTS:
        return _page(429, gettext("Je hebt te vaak een verkeerde code ingetypt. Wacht een kwartier en probeer "
                                  "dan opnieuw."), code)
    if password != request.form.get("password_again", ""):
        return _page(400, gettext("De twee wachtwoorden zijn niet hetzelfde. Typ ze opnieuw."), code)
    try:
        account = container.activation.activate(code, password)
    except WeakPassword as exc:
        return _page(400, gettext("Kies een langer wachtwoord: minstens %(minimum)s tekens.",
                                  minimum=exc.minimum), code)
    except InvalidActivationCode:
        return _page(400, gettext("Deze code klopt niet, is al gebruikt of is verlopen. Kijk de code op je "
                                  "brief goed na, of vraag je school om een nieuwe brief."), code)
    container.store.uncount("activation-attempts", request.remote_addr or "unknown")
    return render_template("activated.html", username=account.username)
