"""Shared pieces of the SCIM tests: a school's provisioning token, raw SCIM calls, a scim2-client for the tester."""
from __future__ import annotations

import httpx
import httpx2
from authlib.integrations.httpx_client import OAuth2Client
from scim2_client.engines.httpx2 import SyncSCIMClient

EDUCATION = "urn:leerid:params:scim:schemas:extension:education:2.0:User"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
SCIM_JSON = "application/scim+json"


def client_token(provider, client_id: str, client_secret: str, scope: str = "scim") -> str:
    """An access token by the client_credentials grant, as the school's software gets one."""
    with OAuth2Client(client_id, client_secret, scope=scope, token_endpoint_auth_method="client_secret_basic",
                      trust_env=False) as oauth:
        token = oauth.fetch_token(provider.issuer + "/token", grant_type="client_credentials")
    return token["access_token"]


class Scim:
    """One school's software talking SCIM over HTTP."""

    def __init__(self, provider, token: str):
        self.provider, self.token = provider, token
        self.base = provider.issuer + "/scim/v2"
        self.http = httpx.Client(base_url=self.base, timeout=30, trust_env=False,
                                 headers={"Authorization": f"Bearer {token}", "Accept": SCIM_JSON})

    def fork(self) -> Scim:
        """Another connection of the same school's software (one per thread in a test of parallel requests)."""
        return Scim(self.provider, self.token)

    def request(self, method: str, path: str, json: dict | None = None, **headers: str) -> httpx.Response:
        extra = {"Content-Type": SCIM_JSON} if json is not None else {}
        return self.http.request(method, path, json=json, headers={**extra, **headers})

    def get(self, path: str, **params) -> httpx.Response:
        return self.http.get(path, params=params)

    def create_user(self, given: str, family: str, birthdate: str, role: str = "pupil", class_name: str | None = "1A",
                    external_id: str | None = None, **more) -> httpx.Response:
        education = {"role": role, "birthdate": birthdate}
        if class_name:
            education["className"] = class_name
        body = {"schemas": [USER, EDUCATION], "name": {"givenName": given, "familyName": family},
                "active": True, EDUCATION: education, **more}
        if external_id:
            body["externalId"] = external_id
        return self.request("POST", "/Users", body)

    def patch(self, path: str, *operations: dict, **headers: str) -> httpx.Response:
        return self.request("PATCH", path, {"schemas": [PATCH], "Operations": list(operations)}, **headers)

    def close(self) -> None:
        self.http.close()


def scim2_client(provider, token: str) -> SyncSCIMClient:
    """scim2-client over httpx2, carrying the bearer token; it learns the server from its discovery endpoints."""
    http = httpx2.Client(base_url=provider.issuer + "/scim/v2", timeout=30, trust_env=False,
                         headers={"Authorization": f"Bearer {token}"})
    return SyncSCIMClient(http)
