"""Blueprint "oidc": discovery, JWKS, authorize, token, userinfo, revocation, introspection, logout."""
from __future__ import annotations

from urllib.parse import urlencode, urlsplit

from authlib.oauth2 import OAuth2Error
from flask import (
    Blueprint,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from idp import authorize as authorization
from idp import ops
from idp.crypto import constant_time_equal, random_token, sha256_hex
from idp.server import discovery
from idp.sessions import SsoSession
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
STATUS_KIND, STATUS_TTL = "logout-status", 300  # a logout page follows its back-channel logouts this long
# The app's Content-Security-Policy (idp/__init__.py), with the front-channel logout iframes' origins added.
LOGOUT_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-src {origins}; "
              "frame-ancestors 'none'; base-uri 'none'; object-src 'none'")


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
    response = oauth_server().create_token_response()
    if response.status_code == 200:
        ops.count_token(request.form.get("grant_type", ""))
    return response


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
    """RP-initiated logout (and Mijn leerID's "Afmelden"): ends the SSO session at once for a valid id_token_hint of
    it, else asks first. A page then lists the session's platforms with how each hears of it, and loads the
    front-channel iframes before it goes on to the post_logout_redirect_uri; without iframes that is a redirect."""
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
    return set_sso_cookie(logged_out(end, platforms_told(ended) if ended is not None else []), None)


def logged_out(end, told: list[dict]):
    """The page after a logout, which loads the front-channel iframes and then goes on to the post-logout redirect
    URI; straight there when there are none."""
    target = end.redirect_uri if end is not None else None
    frames = sorted({origin(p["frame"]) for p in told if p["frame"]})
    if target and not frames:
        return redirect(target, 303)
    response = make_response(render_template(
        "logout_done.html", ended=True, platforms=told, target=target, status=follow(told),
        back_to=end.client.name if target and end.client is not None else None))
    if frames:  # this page alone may frame exactly these platforms
        response.headers["Content-Security-Policy"] = LOGOUT_CSP.format(origins=" ".join(frames))
    return response


def platforms_told(ended: SsoSession) -> list[dict]:
    """Each platform of the ended session and how it hears of it: back-channel logouts (queued only: the worker sends
    them, never while this page waits) and a front-channel iframe (OIDC Front-Channel Logout 1.0 §2-3)."""
    container = services()
    jobs = container.backchannel.session_ended(ended)
    told = []
    for n, client_id in enumerate(ended.clients):
        client = container.clients.find(client_id)
        if client is not None:
            told.append({"id": f"p{n}", "name": client.name, "jobs": [j.id for j in jobs if j.client_id == client_id],
                         "frame": frame_uri(client, ended.sid, container.settings.issuer)})
    return told


def frame_uri(client, sid: str, issuer: str) -> str | None:
    """The platform's frontchannel_logout_uri, with iss and sid when it registered that it needs them (§2)."""
    uri = client.frontchannel_logout_uri
    if not uri or not client.frontchannel_logout_session_required:
        return uri or None
    return f"{uri}{'&' if urlsplit(uri).query else '?'}{urlencode({'iss': issuer, 'sid': sid})}"  # theirs kept as is


def origin(uri: str) -> str:
    parts = urlsplit(uri)
    return f"{parts.scheme}://{parts.netloc}".lower()


def follow(told: list[dict]) -> str | None:
    """The address where this browser, and no other, reads how the back-channel logouts fared; None: none queued."""
    followed = [{"id": p["id"], "jobs": p["jobs"]} for p in told if p["jobs"]]
    if not followed:
        return None
    token = random_token(24)
    services().store.put(STATUS_KIND, token, {"browser": sha256_hex(binding()), "platforms": followed}, STATUS_TTL)
    return url_for("oidc.logout_status", token=token)


@bp.get("/logout/status/<token>")
def logout_status(token: str):
    """The logout page's platforms: waiting, done or unreachable (for now: the worker tries again later)."""
    container, browser = services(), session.get("bid")
    watched = container.store.get(STATUS_KIND, token) if len(token) <= 64 else None
    if watched is None or not browser or not constant_time_equal(watched["browser"], sha256_hex(browser)):
        response = jsonify(error="not_found")
        response.status_code = 404
    else:
        outcomes = container.backchannel.queue.outcomes([job for p in watched["platforms"] for job in p["jobs"]])
        response = jsonify(platforms=[{"id": p["id"], "status": status_of([outcomes.get(job) for job in p["jobs"]])}
                                      for p in watched["platforms"]])
    response.headers["Cache-Control"] = "no-store"
    return response


def status_of(outcomes: list[str | None]) -> str:
    if "unreachable" in outcomes:
        return "unreachable"
    return "done" if all(outcome == "done" for outcome in outcomes) else "waiting"
