"""Blueprint "oidc": discovery, JWKS, authorize, token, userinfo, revocation, introspection, logout."""
from __future__ import annotations

from authlib.oauth2 import OAuth2Error
from flask import Blueprint, jsonify, make_response, redirect, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from idp import authorize as authorization
from idp.server import discovery
from idp.web import (
    SSO_COOKIE,
    binding,
    error_page,
    oauth_server,
    services,
    set_sso_cookie,
)

bp = Blueprint("oidc", __name__)
API_VIEWS = ("token", "userinfo", "revoke", "introspect", "authorize", "logout")
FORM_ENDPOINTS = ("oidc.token", "oidc.revoke", "oidc.introspect")


@bp.before_request
def form_encoded_only():
    """Token, revocation and introspection take application/x-www-form-urlencoded bodies (RFC 6749 §3.2)."""
    if request.method != "POST" or request.endpoint not in FORM_ENDPOINTS:
        return None
    if request.mimetype != "application/x-www-form-urlencoded":
        return jsonify(error="invalid_request",
                       error_description="The body must be application/x-www-form-urlencoded"), 415
    if any(len(values) > 1 for values in request.form.listvalues()):
        return jsonify(error="invalid_request", error_description="A parameter is repeated"), 400
    return None


def _public_json(payload: dict, max_age: int):
    response = jsonify(payload)
    response.headers["Cache-Control"] = f"public, max-age={max_age}"
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@bp.get("/.well-known/openid-configuration")
def configuration():
    return _public_json(discovery(services().settings), 300)


@bp.get("/jwks")
def jwks():
    return _public_json(services().keys.jwks(), 30)


@bp.route("/authorize", methods=["GET", "POST"])
def authorize():
    return authorization.handle(authorization.flatten(request.args if request.method == "GET" else request.form))


@bp.get("/authorize/resume/<uid>")
def resume(uid: str):
    interaction = services().interactions.load(uid, binding())
    if interaction is None:
        return error_page("expired", 400)
    return authorization.handle(interaction.params, interaction)


@bp.post("/token")
def token():
    return oauth_server().create_token_response()


@bp.route("/userinfo", methods=["GET", "POST"])
def userinfo():
    try:
        response = oauth_server().create_endpoint_response("userinfo")
    except HTTPException as refused:  # Authlib's resource protector refuses by raising
        response = refused.get_response()
    if response.status_code in (401, 403) and "WWW-Authenticate" not in response.headers:
        error = (response.get_json(silent=True) or {}).get("error", "invalid_token")
        response.headers["WWW-Authenticate"] = f'Bearer error="{error}"'  # RFC 6750 §3
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@bp.post("/revoke")
def revoke():
    return oauth_server().create_endpoint_response("revocation")


@bp.post("/introspect")
def introspect():
    return oauth_server().create_endpoint_response("introspection")


@bp.route("/logout", methods=["GET", "POST"])
def logout():
    """RP-initiated logout: ends the SSO session at once for a valid id_token_hint of it, else asks first."""
    server, container = oauth_server(), services()
    try:
        end = server.validate_endpoint_request("end_session")
    except OAuth2Error:
        end = None
    cookie = request.cookies.get(SSO_COOKIE)
    sso = container.sessions.get(cookie)
    hinted = end is not None and end.id_token_claims is not None and (
        sso is None or end.id_token_claims.get("sid") == sso.sid)
    if request.method == "POST" and request.form.get("logout") in ("yes", "no"):
        from idp import csrf

        try:
            csrf.protect()
        except CSRFError:
            return error_page("expired", 400)
        if request.form["logout"] == "no":
            return make_response(render_template("logout_done.html", ended=False), 200)
    elif not hinted:
        return make_response(render_template(
            "logout_confirm.html", client=end.client if end else None, failed=end is None,
            params={k: v for k, v in request.values.items() if k in (
                "id_token_hint", "client_id", "post_logout_redirect_uri", "state", "ui_locales")},
        ), 400 if end is None else 200)
    ended = container.sessions.end(cookie)
    if ended is not None:  # queued only: the platforms are told by the worker, never while this page waits
        container.backchannel.session_ended(ended)
    target = end.redirect_uri if end is not None else None
    response = redirect(target, 303) if target else make_response(render_template("logout_done.html", ended=True))
    return set_sso_cookie(response, None)
