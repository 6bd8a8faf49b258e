"""The RP factory both demo platforms are built with: Authlib's Flask OAuth client against leerID.

The code flow with PKCE (S256) and a nonce, the ID token checked against leerID's JWKS, the person's name
from the ID token (or else from userinfo), RP-initiated logout with id_token_hint and a registered
post_logout_redirect_uri, and back-channel logout (examples.backchannel): sessions live on the server
(examples.rp_sessions), so that a logout token from leerID ends this platform's session of that leerID session.
"""
from __future__ import annotations

import hmac
import os
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timezone
from urllib.parse import urlsplit

from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.flask_client import OAuth
from flask import Blueprint, Flask, abort, current_app, jsonify, redirect, render_template, request, session, url_for
from joserfc.errors import JoseError
from requests import RequestException

from examples.backchannel import InvalidLogoutToken, LogoutTokenVerifier
from examples.platforms import Platform
from examples.rp_sessions import LOGIN, ServerSessionInterface, SessionStore

SCOPE = "openid profile"
SHOWN_CLAIMS = ("sub", "acr", "amr", "auth_time", "act")
NAME_CLAIMS = ("name", "given_name", "family_name")
AMR_WORDS = {"pwd": "wachtwoord", "otp": "code uit een app", "hwk": "toegangssleutel", "badge": "QR-badge"}

bp = Blueprint("rp", __name__)


@dataclass(frozen=True)
class RpConfig:
    issuer: str
    client_id: str
    client_secret: str
    base_url: str  # where a browser reaches this platform, e.g. http://127.0.0.1:5001
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    peers: tuple[tuple[str, str], ...] = ()  # (name, url) of other platforms, to show single sign-on

    @property
    def redirect_uri(self) -> str:
        return f"{self.base_url.rstrip('/')}/callback"

    @property
    def post_logout_redirect_uri(self) -> str:
        return f"{self.base_url.rstrip('/')}/"

    @property
    def backchannel_logout_uri(self) -> str:
        return f"{self.base_url.rstrip('/')}/backchannel-logout"


def create_rp(platform: Platform, config: RpConfig) -> Flask:
    if urlsplit(config.issuer).scheme == "http":
        os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"  # a demo on this machine; real platforms use https
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=config.secret_key, SESSION_COOKIE_NAME=platform.cookie_name, SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax", SESSION_COOKIE_SECURE=config.base_url.startswith("https://"),
        MAX_CONTENT_LENGTH=64 * 1024,
    )
    sessions = SessionStore()
    app.session_interface = ServerSessionInterface(sessions)
    oauth = OAuth(app)
    oauth.register(
        "leerid", client_id=config.client_id, client_secret=config.client_secret,
        server_metadata_url=f"{config.issuer.rstrip('/')}/.well-known/openid-configuration",
        client_kwargs={"scope": SCOPE, "code_challenge_method": "S256"},
    )
    app.extensions["rp"] = (platform, config, oauth.leerid)
    verifier = LogoutTokenVerifier(config.issuer.rstrip("/"), config.client_id,
                                   lambda force: oauth.leerid.fetch_jwk_set(force=force))
    app.extensions["rp_logout"] = (sessions, verifier)
    app.add_template_filter(local_time)
    app.add_template_filter(amr_words)
    app.register_blueprint(bp)
    return app


def _rp():
    return current_app.extensions["rp"]


def _page(template: str, status: int = 200, **context):
    platform, config, _ = _rp()
    html = render_template(template, platform=platform, peers=config.peers, **context)
    return html, status, {"Cache-Control": "no-store"}


@bp.get("/")
def home():
    logged_out = False
    if request.args.get("state"):  # back from leerID's end_session_endpoint
        try:
            _rp()[2].validate_logout_response()
            logged_out = True
        except OAuthError:
            pass
    person = session.get("person")
    if person and "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(24)
    return _page("home.html", person=person, logged_out=logged_out, csrf=session.get("csrf"),
                 ended_elsewhere=getattr(session, "ended_elsewhere", False))


@bp.get("/login")
def login():
    _, config, leerid = _rp()
    try:
        return leerid.authorize_redirect(config.redirect_uri)
    except RequestException:
        return _page("problem.html", 502, reason="unreachable")


@bp.get("/callback")
def callback():
    leerid = _rp()[2]
    try:
        token = leerid.authorize_access_token()
        claims = dict(token["userinfo"])
        if not any(claims.get(name) for name in NAME_CLAIMS):
            claims.update(_names_from_userinfo(leerid, token, claims["sub"]))
    except OAuthError as exc:
        current_app.logger.warning("login refused: %s", exc)
        reason = "refused" if getattr(exc, "error", None) == "access_denied" else "failed"
        return _page("problem.html", 400, reason=reason)
    except (JoseError, KeyError, RequestException) as exc:
        current_app.logger.warning("login failed: %r", exc)
        return _page("problem.html", 502, reason="failed")
    session.clear()  # a new login, a new session (and a new session id)
    session.renew = True
    session[LOGIN] = {"sid": claims.get("sid"), "sub": claims["sub"]}  # what a logout token names
    session["id_token"] = token["id_token"]
    session["person"] = {"name": display_name(claims), "given_name": claims.get("given_name"),
                         "claims": {k: claims[k] for k in SHOWN_CLAIMS if k in claims}}
    return redirect(url_for("rp.home"), 303)


def _names_from_userinfo(leerid, token: dict, sub: str) -> dict:
    """OIDC Core §5.4: an OP may release profile claims at userinfo only; its `sub` must match (§5.3.2)."""
    info = leerid.userinfo(token=token)
    if info.get("sub") != sub:
        return {}
    return {name: info[name] for name in NAME_CLAIMS if info.get(name)}


@bp.post("/logout")
def logout():
    _, config, leerid = _rp()
    expected = session.get("csrf") or ""
    if not hmac.compare_digest(expected, request.form.get("csrf", "")) or not expected:
        abort(400)
    id_token = session.get("id_token")
    session.clear()  # logged out here first, whatever leerID answers
    if not id_token:
        return redirect(url_for("rp.home"), 303)
    return leerid.logout_redirect(post_logout_redirect_uri=config.post_logout_redirect_uri,
                                  id_token_hint=id_token, client_id=config.client_id)


@bp.post("/backchannel-logout")
def backchannel_logout():
    """OIDC Back-Channel Logout 1.0 §2.5-2.8: leerID tells us that a leerID session (sid) or every session of a
    person (sub) ended; we end ours of it. 200 also when there was none left; 400 for a token that fails §2.6."""
    sessions, verifier = current_app.extensions["rp_logout"]
    tokens = request.form.getlist("logout_token")
    if request.mimetype != "application/x-www-form-urlencoded" or len(tokens) != 1:
        return _logout_refused("send one logout_token as application/x-www-form-urlencoded")
    try:
        ended = verifier.verify(tokens[0])
    except InvalidLogoutToken as exc:
        current_app.logger.warning("back-channel logout refused: %s", exc)
        return _logout_refused(str(exc))
    count = sessions.end(sid=ended.sid, sub=ended.sub)
    current_app.logger.info("back-channel logout: %d session(s) ended", count)
    return "", 200, {"Cache-Control": "no-store"}


def _logout_refused(description: str):
    response = jsonify(error="invalid_request", error_description=description)
    response.status_code = 400
    response.headers["Cache-Control"] = "no-store"
    return response


def display_name(claims: dict) -> str:
    if claims.get("name"):
        return claims["name"]
    parts = [claims.get("given_name"), claims.get("family_name")]
    return " ".join(p for p in parts if p) or "onbekende naam"


def local_time(epoch) -> str:
    """auth_time as Belgian local time, e.g. 14-03-2025 om 08:31:05."""
    try:
        from zoneinfo import ZoneInfo

        zone = ZoneInfo("Europe/Brussels")
    except Exception:  # no time zone data in a slim image: show UTC
        zone = timezone.utc
    return datetime.fromtimestamp(int(epoch), zone).strftime("%d-%m-%Y om %H:%M:%S")


def amr_words(amr) -> str:
    values = amr if isinstance(amr, list) else [amr]
    return ", ".join(AMR_WORDS.get(str(v), str(v)) for v in values)
