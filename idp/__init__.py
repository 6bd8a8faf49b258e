"""leerID's OpenID provider: create_app(settings) wires the blueprints onto the Container."""
from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from flask import Flask, g, request, session
from flask_babel import Babel, get_locale
from flask_wtf.csrf import CSRFError, CSRFProtect
from sqlalchemy.exc import OperationalError, ProgrammingError
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from config.settings import ConfigError, Settings
from idp.crypto import random_token
from idp.errors import StoreUnavailable

if TYPE_CHECKING:
    from idp.wiring import Container

csrf = CSRFProtect()
LOCALES = ("nl", "en")
REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
log = logging.getLogger("leerid")


class RequestIdFilter(logging.Filter):
    def filter(self, record):
        try:
            record.request_id = g.get("request_id", "-")
        except RuntimeError:  # outside a request
            record.request_id = "-"
        return True


def configure_logging(level: str, fmt: str = "text") -> None:
    """Log lines to stderr with the request id: `fmt` "text" for people, "json" (one object per line, with an access
    line per request) for a log collector."""
    from idp.ops import JsonFormatter

    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(
        "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("authlib").setLevel(logging.WARNING)  # its debug lines would print tokens
    logging.getLogger("werkzeug").setLevel(logging.WARNING)


def select_locale() -> str:
    """An explicit choice, else the platform's ui_locales, else the browser's languages, else Dutch."""
    for wanted in (request.args.get("lang"), request.cookies.get("leerid_lang"), session.get("ui_locale")):
        if wanted in LOCALES:
            return wanted
    return request.accept_languages.best_match(LOCALES) or "nl"


def create_app(settings: Settings | None = None, container: Container | None = None) -> Flask:
    from idp.wiring import Container

    settings = settings or Settings.from_env()
    container = container or Container(settings)
    settings = container.settings
    if settings.issuer.startswith("http://"):
        os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"  # development only: production refuses http issuers
    app = Flask(__name__)
    if settings.trusted_proxies:  # the client's address and scheme as the TLS-terminating proxies saw them
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.trusted_proxies, x_proto=settings.trusted_proxies)
    app.config.update(
        SECRET_KEY=settings.secret_keys[0], SECRET_KEY_FALLBACKS=list(settings.secret_keys[1:]),
        SESSION_COOKIE_NAME="leerid_form", SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.secure_cookies, MAX_CONTENT_LENGTH=64 * 1024,
        WTF_CSRF_TIME_LIMIT=settings.interaction_ttl * 2, WTF_CSRF_SSL_STRICT=False,
        BABEL_DEFAULT_LOCALE="nl", BABEL_TRANSLATION_DIRECTORIES=str(Path(__file__).parent / "translations"),
    )
    app.extensions["leerid"] = container
    from idp.server import LeerIDServer

    app.extensions["leerid.server"] = LeerIDServer(container)
    csrf.init_app(app)
    Babel(app, locale_selector=select_locale)
    app.jinja_env.globals["get_locale"] = get_locale
    _register_blueprints(app)
    _register_hooks(app, settings)
    _prepare(container)
    return app


def _register_blueprints(app: Flask) -> None:
    from idp import (
        activation_views,
        badge_views,
        console,
        console_badges,
        console_sessions,
        endpoints,
        enrol_views,
        interaction,
        mandate_link,
        mijn,
        mijn_mandates,
        mijn_parent,
        mijn_password,
        mijn_security,
        mijn_sessions,
        operator,
        ops,
        passkey_views,
        scim_views,
        switch_views,
    )

    app.register_blueprint(activation_views.bp)
    app.register_blueprint(badge_views.bp)
    app.register_blueprint(console.bp)
    app.register_blueprint(console_badges.bp)
    app.register_blueprint(console_sessions.bp)
    app.register_blueprint(endpoints.bp)
    app.register_blueprint(enrol_views.bp)
    app.register_blueprint(interaction.bp)
    app.register_blueprint(mandate_link.bp)
    app.register_blueprint(mijn.bp)
    app.register_blueprint(mijn_mandates.bp)
    app.register_blueprint(mijn_parent.bp)
    app.register_blueprint(mijn_password.bp)
    app.register_blueprint(mijn_security.bp)
    app.register_blueprint(mijn_sessions.bp)
    app.register_blueprint(mijn_sessions.signed_out)
    app.register_blueprint(operator.bp)
    app.register_blueprint(ops.bp)
    app.register_blueprint(passkey_views.bp)
    app.register_blueprint(passkey_views.mine)
    app.register_blueprint(scim_views.bp)
    app.register_blueprint(switch_views.bp)
    for view in endpoints.API_VIEWS:
        csrf.exempt(f"idp.endpoints.{view}")


def _register_hooks(app: Flask, settings: Settings) -> None:
    from idp import ops
    from idp.web import error_page

    @app.before_request
    def start():
        given = request.headers.get("X-Request-ID", "")
        g.request_id = given if REQUEST_ID.match(given) else random_token(12)
        ops.start_timer()

    @app.after_request
    def finish(response):
        response.headers["X-Request-ID"] = g.get("request_id", "-")
        response.headers.setdefault("Content-Security-Policy", (
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "frame-ancestors 'none'; base-uri 'none'; object-src 'none'"))
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        if settings.secure_cookies:
            response.headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
        response.headers.setdefault("Cache-Control", "no-store")
        lang = request.args.get("lang")
        if lang in LOCALES:
            response.set_cookie("leerid_lang", lang, max_age=365 * 24 * 3600, samesite="Lax",
                                secure=app.config["SESSION_COOKIE_SECURE"], httponly=True)
        return ops.record(response, log_access=settings.log_format == "json")

    def wants_json() -> bool:
        return request.path in ("/token", "/userinfo", "/revoke", "/introspect", "/jwks") \
            or request.path.startswith("/.well-known")

    @app.errorhandler(StoreUnavailable)
    @app.errorhandler(OperationalError)
    def unavailable(exc):
        log.error("store unavailable: %s", type(exc).__name__)
        ops.count_store_error("redis" if isinstance(exc, StoreUnavailable) else "database")
        if wants_json():
            return {"error": "temporarily_unavailable",
                    "error_description": "The service is temporarily unavailable"}, 503
        return error_page("unavailable", 503)

    @app.errorhandler(CSRFError)
    def csrf_failed(exc):
        return error_page("expired", 400)

    @app.errorhandler(HTTPException)
    def http_error(exc):
        kinds = {404: "not_found", 405: "method", 413: "too_large"}
        if wants_json():
            return {"error": "invalid_request", "error_description": exc.name}, exc.code
        return error_page(kinds.get(exc.code, "bad_request"), exc.code or 400)

    @app.errorhandler(Exception)
    def crashed(exc):
        log.exception("unhandled error")
        if wants_json():
            return {"error": "server_error", "error_description": "Internal error"}, 500
        return error_page("server", 500)


def _prepare(container: Container) -> None:
    """Signing keys and the pairwise salt exist before the first request, else the schema is missing.

    A database that cannot be reached yet does not stop the start: /readyz says so until it can.
    """
    try:
        container.keys.ensure()
        container.subjects.ensure()
    except (OperationalError, ProgrammingError) as exc:
        text = str(exc.orig).lower()
        if any(missing in text for missing in ("no such table", "does not exist", "undefined")):
            raise ConfigError("the database has no leerID schema yet: run `leerid db upgrade`") from exc
        log.warning("the database cannot be reached yet; /readyz answers 503 until it can")
