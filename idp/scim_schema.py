"""SCIM 2.0 (RFC 7643/7644) resources and messages as leerID serves them: the User with leerID's education
extension, the Group (a class), the ServiceProviderConfig, and reading requests and writing answers.

Requests are bounded here: a filter has at most MAX_FILTER_LENGTH characters and MAX_COMPARISONS comparisons
(scim2-models already refuses one that nests more than 32 expressions), a page at most MAX_COUNT resources.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, ValidationError
from scim2_models import (
    URN,
    AuthenticationScheme,
    Bulk,
    CaseExact,
    ChangePassword,
    ComplexAttribute,
    Context,
    Error,
    ETag,
    Extension,
    Filter,
    InvalidFilterException,
    InvalidSyntaxException,
    InvalidValueException,
    ListResponse,
    Meta,
    Mutability,
    Patch,
    PatchOp,
    PreconditionFailedException,
    Reference,
    Required,
    Resource,
    ResourceType,
    Returned,
    Schema,
    SCIMException,
    ScimProvider,
    SearchRequest,
    ServiceProviderConfig,
    Sort,
    Uniqueness,
)
from scim2_models.path import LogicalExpr, Not, ValuePath

EDUCATION = "urn:leerid:params:scim:schemas:extension:education:2.0:User"
ROLES = ("pupil", "teacher", "staff")
MAX_COUNT = 200
MAX_FILTER_LENGTH = 1000
MAX_COMPARISONS = 50


@dataclass(frozen=True)
class Caller:
    """Who calls: a school's provisioning client."""

    client_id: str
    school_id: int


class Name(ComplexAttribute):
    given_name: Annotated[str | None, Required.true] = None
    family_name: Annotated[str | None, Required.true] = None


class Email(ComplexAttribute):
    value: Annotated[str | None, Required.true] = None


class Education(Extension):
    """leerID's education extension: the person's place at this school."""

    __schema__ = URN(EDUCATION)

    school_number: Annotated[str | None, Mutability.read_only, Returned.request, CaseExact.true] = Field(
        None, description="The school's number (instellingsnummer): the token's school; returned on request.")
    role: Annotated[str | None, Required.true] = Field(
        None, examples=list(ROLES), description="pupil, teacher or staff.")
    class_name: Annotated[str | None, CaseExact.true] = Field(
        None, description="The class of this school year; a new name makes a new class.")
    grade: Annotated[int | None, Mutability.read_only] = Field(None, description="The class's grade (leerjaar).")
    birthdate: Annotated[str | None, Required.true] = Field(
        None, examples=["2014-03-21", "1986-11-02"], description="YYYY-MM-DD.")


class User(Resource[Any]):
    """A pupil, teacher or staff member of the school."""

    __schema__ = URN("urn:ietf:params:scim:schemas:core:2.0:User")

    user_name: Annotated[str | None, Mutability.read_only, Returned.always, Uniqueness.server] = Field(
        None, description="The leerID username: leerID chooses it (voornaam.familienaam) and ignores one sent.")
    name: Annotated[Name | None, Required.true] = None
    display_name: Annotated[str | None, Mutability.read_only] = None
    active: Annotated[bool | None, Required.true] = None
    emails: list[Email] | None = Field(None, description="At most one address.")


class Member(ComplexAttribute):
    value: Annotated[str | None, Required.true, Mutability.immutable, CaseExact.true] = None
    ref: Annotated[Reference["User"] | None, Mutability.immutable] = Field(  # noqa: UP037 - a SCIM type name
        None, serialization_alias="$ref", validation_alias="$ref")


class Group(Resource[Any]):
    """A class of the school in this school year."""

    __schema__ = URN("urn:ietf:params:scim:schemas:core:2.0:Group")

    external_id: Annotated[str | None, Mutability.read_only, CaseExact.true] = None  # classes keep none
    display_name: Annotated[str | None, Required.true] = Field(None, description="The class's name.")
    members: list[Member] | None = None


Person = User[Annotated[Education, Required.true]]
CONFIG = ServiceProviderConfig(
    documentation_uri=None, patch=Patch(supported=True), bulk=Bulk(supported=False, max_operations=0,
                                                                    max_payload_size=0),
    filter=Filter(supported=True, max_results=MAX_COUNT), change_password=ChangePassword(supported=False),
    sort=Sort(supported=False), etag=ETag(supported=True),
    authentication_schemes=[AuthenticationScheme(
        type="oauthbearertoken", name="OAuth Bearer Token", primary=True,
        description="An access token of the school's provisioning client (client_credentials, scope scim).")])
PROVIDER = ScimProvider(models=[User, Education, Group], config=CONFIG, resource_types=[
    ResourceType.from_resource(Person), ResourceType.from_resource(Group)])
SCHEMAS = [*PROVIDER.schemas, Schema.to_schema(), ResourceType.to_schema(), ServiceProviderConfig.to_schema()]


def parse(model: type, payload: Any, context: Context):
    """A request body as a scim2-models object, or a SCIM error (400) saying what is wrong."""
    if not isinstance(payload, dict):
        raise InvalidSyntaxException(detail="the body must be a JSON object")
    try:
        return model.model_validate(payload, scim_ctx=context, scim_provider=PROVIDER)
    except ValidationError as exc:
        raise SCIMException.from_error(Error.from_validation_error(exc.errors()[0])) from None
    except RecursionError:
        raise InvalidSyntaxException(detail="the request nests too deeply") from None


def search(model: type, params: dict) -> SearchRequest:
    """The query parameters of a list request (filter, startIndex, count, attributes)."""
    text = params.get("filter")
    if isinstance(text, str) and len(text) > MAX_FILTER_LENGTH:
        raise InvalidFilterException(detail=f"a filter has at most {MAX_FILTER_LENGTH} characters")
    request = parse(SearchRequest[model], {k: v for k, v in params.items() if v is not None}, Context.SEARCH_REQUEST)
    if request.filter and comparisons(request.filter.ast) > MAX_COMPARISONS:
        raise InvalidFilterException(detail=f"a filter has at most {MAX_COMPARISONS} comparisons")
    if request.sort_by:
        raise InvalidValueException(detail="sorting is not supported")
    return request


def comparisons(node: Any) -> int:
    """How many comparisons (and presence tests) a parsed filter makes; counted without recursion."""
    count, stack = 0, [node]
    while stack:
        node = stack.pop()
        if isinstance(node, LogicalExpr):
            stack.extend(node.terms)
        elif isinstance(node, Not):
            stack.append(node.expr)
        elif isinstance(node, ValuePath):
            stack.append(node.val_filter)
        else:
            count += 1
    return count


def page(model: type, resources: list, total: int, start: int) -> ListResponse:
    return ListResponse[model](total_results=total, start_index=start, items_per_page=len(resources),
                               resources=resources)


def version_of(resource: Resource) -> str:
    """A weak ETag of what the resource says (meta left out): it changes whenever the resource does."""
    body = resource.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE, exclude={"meta"})
    return 'W/"' + hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:20] + '"'


def check_version(resource: Resource, if_match: str | None) -> None:
    """RFC 7644 §3.14: a change under If-Match applies only to the version the client has seen."""
    if if_match is None or if_match.strip() == "*":
        return
    wanted = {tag.strip() for tag in if_match.split(",")}
    current = resource.meta.version
    if current not in wanted and current.removeprefix("W/") not in {t.removeprefix("W/") for t in wanted}:
        raise PreconditionFailedException(detail="the resource changed since you read it (If-Match)")


def finish(resource: Resource, resource_type: str, location: str, created: datetime | None = None,
           modified: datetime | None = None) -> Resource:
    resource.meta = Meta(resource_type=resource_type, location=location, created=created, last_modified=modified)
    resource.meta.version = version_of(resource)
    return resource


def patched(model: type, resource: Resource, payload: Any) -> Resource:
    """The resource as the PATCH operations (RFC 7644 §3.5.2) leave it; nothing is stored yet."""
    operations = parse(PatchOp[model], payload, Context.RESOURCE_PATCH_REQUEST)
    wanted = resource.model_copy(deep=True)
    operations.patch(wanted)
    return wanted
