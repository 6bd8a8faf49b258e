"""Blueprint "scim": SCIM 2.0 at /scim/v2 for a school's administration software (RFC 7644), JSON only.

Every request carries an access token of a school's provisioning client (client_credentials, scope `scim`);
the token's client names the one school whose people and classes the request may see and change.
Bodies are bounded: at most 64 KiB (the app's MAX_CONTENT_LENGTH) and MAX_DEPTH levels of JSON nesting.
"""
from __future__ import annotations

import json
import logging

from flask import Blueprint, Response, current_app, g, request
from scim2_models import (
    Context,
    Error,
    ForbiddenException,
    InvalidSyntaxException,
    ListResponse,
    NotFoundException,
    NotImplementedException,
    Resource,
    ResponseParameters,
    SCIMException,
    UnauthorizedException,
    UniquenessException,
)
from sqlalchemy.exc import IntegrityError, OperationalError
from werkzeug.exceptions import (
    HTTPException,
    MethodNotAllowed,
    NotFound,
    UnsupportedMediaType,
)

from idp import csrf, ops
from idp.errors import StoreUnavailable
from idp.scim import RETRY
from idp.scim_schema import CONFIG, PROVIDER, SCHEMAS, Caller, page, parse
from idp.web import services

bp = Blueprint("scim", __name__, url_prefix="/scim/v2")
csrf.exempt(bp)
SCIM_JSON = "application/scim+json"
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
REALM = 'Bearer realm="leerID SCIM"'
MAX_DEPTH = 32  # JSON nesting of a body; a SCIM PATCH needs about 6
log = logging.getLogger("leerid.scim")


def respond(body: dict | None, status: int = 200, etag: str | None = None, location: str | None = None) -> Response:
    response = Response(json.dumps(body) if body is not None else None, status,
                        mimetype=SCIM_JSON if body is not None else None)
    if etag:
        response.headers["ETag"] = etag
    if location:
        response.headers["Location"] = location
    return response


def resource_response(resource: Resource | None, status: int = 200, context=Context.RESOURCE_QUERY_RESPONSE):
    if resource is None:  # the person left this school as the result of the request
        return respond(None, 204)
    params = parse(ResponseParameters, {k: v for k, v in request.args.items()
                                        if k in ("attributes", "excludedAttributes")}, Context.RESOURCE_QUERY_REQUEST)
    body = resource.model_dump(scim_ctx=context, response_parameters=params, scim_provider=PROVIDER)
    return respond(body, status, etag=resource.meta.version,
                   location=resource.meta.location if status == 201 else None)


def list_response(found: ListResponse, search) -> Response:
    return respond(found.model_dump(scim_ctx=Context.SEARCH_RESPONSE, response_parameters=search,
                                    scim_provider=PROVIDER))


@bp.errorhandler(SCIMException)
def scim_error(exc: SCIMException):
    response = respond(exc.to_error().model_dump(), exc.status)
    if exc.status == 401:  # RFC 6750 §3: no error code for a request that carried no token
        tried = "Authorization" in request.headers
        response.headers["WWW-Authenticate"] = REALM + (', error="invalid_token"' if tried else "")
    elif exc.status == 403 and g.get("scim_caller") is None:
        response.headers["WWW-Authenticate"] = REALM + ', error="insufficient_scope", scope="scim"'
    return response


def error_response(status: int, detail: str) -> Response:
    return respond(Error(status=status, detail=detail).model_dump(), status)


@bp.errorhandler(HTTPException)
def http_error(exc: HTTPException):
    return error_response(exc.code or 400, exc.name)


@bp.errorhandler(IntegrityError)
def conflicting(exc: IntegrityError):
    """A write that lost a race the service did not map itself: rolled back, the client may retry."""
    log.warning("conflicting SCIM write: %s", type(exc.orig).__name__)
    return scim_error(UniquenessException(detail=RETRY))


@bp.errorhandler(StoreUnavailable)
@bp.errorhandler(OperationalError)
def unavailable(exc: Exception):
    log.error("store unavailable: %s", type(exc).__name__)
    ops.count_store_error("redis" if isinstance(exc, StoreUnavailable) else "database")
    return error_response(503, "The service is temporarily unavailable")


@bp.errorhandler(Exception)
def crashed(exc: Exception):
    log.exception("unhandled error in SCIM")
    return error_response(500, "Internal error")


@bp.before_request
def authenticate():
    """The caller is a school's provisioning client; anyone else is 401 (no valid token) or 403 (no scim)."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise UnauthorizedException(detail="send the school's access token: Authorization: Bearer ...")
    container = services()
    claims = container.tokens.verify_access_token(token.strip())
    if claims is None:
        raise UnauthorizedException(detail="the access token is not valid")
    client = container.clients.find(claims.get("client_id"))
    if "scim" not in str(claims.get("scope", "")).split() or client is None or client.school_id is None:
        raise ForbiddenException(detail="this token is not a school's provisioning token (scope scim)")
    g.scim_caller = Caller(client.client_id, client.school_id)


def body() -> dict:
    if request.mimetype not in (SCIM_JSON, "application/json"):
        raise UnsupportedMediaType()
    try:
        payload = request.get_json(force=True, silent=True)
    except RecursionError:  # json's parser recurses once per level of nesting
        payload = None
    if not isinstance(payload, dict):
        raise InvalidSyntaxException(detail="the body is not a JSON object")
    if nesting(payload) > MAX_DEPTH:
        raise InvalidSyntaxException(detail=f"the body nests more than {MAX_DEPTH} levels")
    return payload


def nesting(value) -> int:
    """How deep JSON objects and arrays nest in `value`, counted without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return deepest


def if_match() -> str | None:
    return request.headers.get("If-Match")


# --- discovery (RFC 7644 §4) ---


@bp.get("/ServiceProviderConfig")
def service_provider_config():
    return respond(CONFIG.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE))


@bp.get("/Schemas")
def schemas():
    return respond(_discovery(SCHEMAS, "Schemas"))


@bp.get("/Schemas/<path:schema_id>")
def schema(schema_id: str):
    found = next((s for s in SCHEMAS if s.id == schema_id), None)
    if found is None:
        raise NotFoundException(detail="no such Schema")
    return respond(found.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE))


@bp.get("/ResourceTypes")
def resource_types():
    return respond(_discovery(PROVIDER.resource_types, "ResourceTypes"))


@bp.get("/ResourceTypes/<name>")
def resource_type(name: str):
    found = next((t for t in PROVIDER.resource_types if t.id == name), None)
    if found is None:
        raise NotFoundException(detail="no such ResourceType")
    return respond(found.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE))


def _discovery(items, endpoint: str) -> dict:
    model = type(items[0])
    return page(model, list(items), len(items), 1).model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)


# --- Users and Groups ---


@bp.route("/Users", methods=["GET", "POST"])
def users():
    scim = services().scim
    if request.method == "POST":
        return resource_response(scim.create_user(g.scim_caller, body()), 201, Context.RESOURCE_CREATION_RESPONSE)
    return list_response(*scim.users(g.scim_caller, request.args.to_dict()))


@bp.route("/Users/<account_id>", methods=["GET", "PUT", "PATCH", "DELETE"])
def user(account_id: str):
    scim, caller = services().scim, g.scim_caller
    if request.method == "GET":
        return resource_response(scim.user(caller, account_id))
    if request.method == "PUT":
        return resource_response(scim.replace_user(caller, account_id, body(), if_match()), 200,
                                 Context.RESOURCE_REPLACEMENT_RESPONSE)
    if request.method == "PATCH":
        return resource_response(scim.patch_user(caller, account_id, body(), if_match()), 200,
                                 Context.RESOURCE_PATCH_RESPONSE)
    scim.delete_user(caller, account_id, if_match())
    return respond(None, 204)


@bp.post("/Users/.search")
def search_users():
    return list_response(*services().scim.users(g.scim_caller, body()))


@bp.post("/Groups/.search")
def search_groups():
    return list_response(*services().scim.groups(g.scim_caller, body()))


@bp.post("/.search")
def search_all():
    raise NotImplementedException(detail="search /Users/.search or /Groups/.search, one resource type at a time")


@bp.route("/Groups", methods=["GET", "POST"])
def groups():
    scim = services().scim
    if request.method == "POST":
        return resource_response(scim.create_group(g.scim_caller, body()), 201, Context.RESOURCE_CREATION_RESPONSE)
    return list_response(*scim.groups(g.scim_caller, request.args.to_dict()))


@bp.route("/Groups/<group_id>", methods=["GET", "PUT", "PATCH", "DELETE"])
def group(group_id: str):
    scim, caller = services().scim, g.scim_caller
    if request.method == "GET":
        return resource_response(scim.group(caller, group_id))
    if request.method == "PUT":
        return resource_response(scim.replace_group(caller, group_id, body(), if_match()), 200,
                                 Context.RESOURCE_REPLACEMENT_RESPONSE)
    if request.method == "PATCH":
        return resource_response(scim.patch_group(caller, group_id, body(), if_match()), 200,
                                 Context.RESOURCE_PATCH_RESPONSE)
    scim.delete_group(caller, group_id, if_match())
    return respond(None, 204)


@bp.route("/", methods=METHODS, defaults={"rest": ""})
@bp.route("/<path:rest>", methods=METHODS)
def unknown(rest: str):
    """Not a SCIM endpoint here: 405 when the path exists for other methods, else 404, both as SCIM errors."""
    adapter = current_app.url_map.bind("localhost")
    for method in METHODS:
        try:
            endpoint, _ = adapter.match(request.path, method=method)
        except (NotFound, MethodNotAllowed):
            continue
        if endpoint != "scim.unknown":
            raise MethodNotAllowed()
    raise NotFoundException(detail="no such SCIM endpoint")

