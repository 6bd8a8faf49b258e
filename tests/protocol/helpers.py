"""Shared pieces of the protocol tests: a person's browser, HTML forms, PKCE, the relying party, ID token checks.

The relying party is Authlib's OAuth2Client (httpx); the person's browser is a cookie-keeping httpx.Client
that follows leerID's own redirects and stops at the first one that leaves the issuer (the platform's
redirect URI, which never has to exist: nothing is sent there).
"""
from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import httpx
from authlib.integrations.httpx_client import OAuth2Client
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.live import fresh_totp, remember_totp, totp_for

SSO_COOKIE = "leerid_sso"  # the browser's SSO session (idp.web.SSO_COOKIE)
SECRET = re.compile(r'<code id="secret" class="secret">([A-Z2-7 ]+)</code>')  # the code app's key on a set-up page

# --- HTML forms ---------------------------------------------------------------------------------------------


@dataclass
class Form:
    action: str
    method: str
    fields: dict[str, str | list[str]] = field(default_factory=dict)  # named inputs; ticked boxes as a list
    buttons: list[tuple[str, str]] = field(default_factory=list)  # submit buttons: (name, value)

    def has_button(self, name: str, value: str) -> bool:
        return (name, value) in self.buttons


class FormParser(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self._current: Form | None = None

    def handle_starttag(self, tag, attrs):
        attrs = {k: (v if v is not None else "") for k, v in attrs}
        if tag == "form":
            self._current = Form(action=attrs.get("action", ""), method=attrs.get("method", "get").lower())
            self.forms.append(self._current)
        elif self._current is None:
            return
        elif tag == "input" and attrs.get("name"):
            kind = attrs.get("type", "text").lower()
            if kind == "submit":
                self._current.buttons.append((attrs["name"], attrs.get("value", "")))
            elif kind in ("checkbox", "radio"):
                if "checked" in attrs:  # sent only when ticked, each ticked box of a name
                    self._current.fields.setdefault(attrs["name"], []).append(attrs.get("value", "on"))
            elif attrs["name"] in self._current.fields:  # a name that repeats is sent once for each
                earlier = self._current.fields[attrs["name"]]
                self._current.fields[attrs["name"]] = [*([earlier] if isinstance(earlier, str) else earlier),
                                                       attrs.get("value", "")]
            else:
                self._current.fields[attrs["name"]] = attrs.get("value", "")
        elif tag == "button" and attrs.get("type", "submit").lower() == "submit":
            self._current.buttons.append((attrs.get("name", ""), attrs.get("value", "")))

    def handle_endtag(self, tag):
        if tag == "form":
            self._current = None


def parse_forms(html: str) -> list[Form]:
    parser = FormParser()
    parser.feed(html)
    parser.close()
    return parser.forms


def login_form(response: httpx.Response) -> Form | None:
    """The login form of a page: the form with a username and a password field."""
    if not response.headers.get("content-type", "").startswith("text/html"):
        return None
    return next((f for f in parse_forms(response.text) if {"username", "password"} <= f.fields.keys()), None)


def form_with_button(response: httpx.Response, name: str, value: str) -> Form | None:
    if not response.headers.get("content-type", "").startswith("text/html"):
        return None
    return next((f for f in parse_forms(response.text) if f.has_button(name, value)), None)


def without_csrf(form: Form) -> Form:
    """The same form with its CSRF token left out, as a cross-site page would send it."""
    return Form(form.action, form.method, {k: v for k, v in form.fields.items() if k != "csrf_token"},
                list(form.buttons))


def consent_form(response: httpx.Response) -> Form | None:
    return form_with_button(response, "decision", "allow")


def code_form(response: httpx.Response) -> Form | None:
    """The second-factor page's form: the one with a field named `code` (DESIGN.md HTTP)."""
    if not response.headers.get("content-type", "").startswith("text/html"):
        return None
    return next((f for f in parse_forms(response.text) if "code" in f.fields), None)


def enrol_form(response: httpx.Response) -> Form | None:
    """The form of the login's set-up page for a code app (a second factor is needed, the person has none)."""
    form = code_form(response)
    return form if form is not None and form.action.endswith("/enrol") else None


def form_to(response: httpx.Response, suffix: str) -> Form | None:
    if not response.headers.get("content-type", "").startswith("text/html"):
        return None
    return next((f for f in parse_forms(response.text) if f.action.endswith(suffix)), None)


# --- PKCE (RFC 7636) ------------------------------------------------------------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def s256(verifier: str) -> str:
    return b64url(hashlib.sha256(verifier.encode()).digest())


def pkce_pair() -> tuple[str, str]:
    """(code_verifier, code_challenge) for code_challenge_method=S256."""
    verifier = secrets.token_urlsafe(48)
    return verifier, s256(verifier)


# --- the authorization response -------------------------------------------------------------------------------


@dataclass
class Callback:
    """What leerID sent the browser to the platform with: a redirect (query) or an auto-posting form."""

    mode: str  # query | form_post
    url: str  # where the browser is sent (the redirect URI, with the query for mode=query)
    params: dict[str, str]
    response: httpx.Response

    @property
    def redirect_uri(self) -> str:
        return self.url.split("?", 1)[0]

    @property
    def code(self) -> str:
        assert "code" in self.params, f"no code in the authorization response: {self.params}"
        return self.params["code"]


def single(query: str) -> dict[str, str]:
    parsed = parse_qs(query, keep_blank_values=True)
    assert all(len(v) == 1 for v in parsed.values()), f"a parameter repeats in {query!r}"
    return {k: v[0] for k, v in parsed.items()}


# --- the person's browser -------------------------------------------------------------------------------------


class NotAtPlatform(AssertionError):
    pass


class Browser:
    """A person's browser: keeps cookies, follows leerID's redirects, fills in forms."""

    def __init__(self, provider, totp=None, enrol: bool = True):
        self.provider = provider
        self.issuer = provider.issuer
        self.totp = totp  # a function giving the TOTP code to type when leerID asks for one (None: see below)
        # Teachers and staff need a second factor (LEERID_MFA_ROLES): with `enrol`, the browser sets up a code app
        # when leerID asks, as the person would, and types fresh codes of it at later code pages
        # (tests.live.SECOND_FACTORS); without `totp` for someone it set up nothing for, it stops at the code page.
        self.enrol = enrol
        self.username: str | None = None  # who logged in last in this browser
        self.http = httpx.Client(timeout=30, trust_env=False, follow_redirects=False,
                                 headers={"Accept-Language": "nl-BE,nl;q=0.9"})

    def close(self) -> None:
        self.http.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def on_issuer(self, url: str) -> bool:
        return url.startswith(self.issuer + "/") or url == self.issuer

    def follow(self, response: httpx.Response, limit: int = 10) -> httpx.Response:
        """Follow redirects while they stay on leerID; the last response (a page, or a redirect away)."""
        for _ in range(limit):
            if not response.is_redirect:
                return response
            target = urljoin(str(response.url), response.headers["location"])
            if not self.on_issuer(target):
                return response
            response = self.http.get(target)
        raise AssertionError(f"more than {limit} redirects inside leerID")

    def get(self, url: str, **kw) -> httpx.Response:
        return self.follow(self.http.get(url, **kw))

    def send(self, page: httpx.Response, form: Form, button: tuple[str, str] | None = None,
             **values: str) -> httpx.Response:
        """Send `form` of `page` as a browser does (its fields, the values typed in, the button pressed);
        the raw answer, not followed."""
        data = dict(form.fields, **values)
        if button is not None:
            assert button in form.buttons, f"no button {button} in the form ({form.buttons})"
            data[button[0]] = button[1]
        action = urljoin(str(page.url), form.action or str(page.url))
        if form.method == "post":
            return self.http.post(action, data=data)
        return self.http.get(action, params=data)

    def submit(self, page: httpx.Response, form: Form, button: tuple[str, str] | None = None,
               **values: str) -> httpx.Response:
        """Send the form and follow leerID's redirects."""
        return self.follow(self.send(page, form, button, **values))

    def send_login(self, page: httpx.Response, username: str, password: str) -> httpx.Response:
        """Fill in and send the login form of `page`; the raw answer to the POST."""
        form = login_form(page)
        assert form is not None, f"expected the login page, got {page.status_code} at {page.url}: {page.text[:300]}"
        return self.send(page, form, username=username, password=password)

    def login(self, page: httpx.Response, user: dict, password: str | None = None) -> httpx.Response:
        """Log in as `user` on the login page `page`, and follow leerID's redirects (and its second factor)."""
        self.username = user["username"]
        page = self.follow(self.send_login(page, user["username"],
                                           user["password"] if password is None else password))
        return self.second_factor(page)

    def send_code(self, page: httpx.Response, code: str) -> httpx.Response:
        """Fill in and send the code form of `page`; the raw answer to the POST."""
        form = code_form(page)
        assert form is not None, f"expected the code page, got {page.status_code} at {page.url}: {page.text[:300]}"
        return self.send(page, form, code=code)

    def second_factor(self, page: httpx.Response) -> httpx.Response:
        """Answer the code page with `self.totp()`, or a fresh code of the code app this browser set up for the
        person, when it is shown; set up a code app first when leerID asks for one (with `self.enrol`)."""
        if self.enrol and self.username and enrol_form(page) is not None:
            page = self.set_up_code_app(page, self.username)
        if code_form(page) is not None and enrol_form(page) is None:
            totp = self.totp or totp_for(self.username)
            if totp is not None:
                return self.follow(self.send_code(page, totp()))
        return page

    def set_up_code_app(self, page: httpx.Response, username: str) -> httpx.Response:
        """The set-up page: read the key in its text, confirm a first code, go on past the recovery codes."""
        found = SECRET.search(page.text)
        assert found, f"no key on the set-up page {page.url}: {page.text[:300]}"
        secret = "".join(found.group(1).split())
        codes = self.send(page, enrol_form(page), code=fresh_totp(secret))
        assert codes.status_code == 200 and form_to(codes, "/enrol/verder"), (codes.status_code, codes.text[:300])
        remember_totp(username, secret)
        return self.submit(codes, form_to(codes, "/enrol/verder"))

    def consent(self, page: httpx.Response, decision: str = "allow") -> httpx.Response:
        form = consent_form(page)
        assert form is not None, f"expected the consent page, got {page.status_code}: {page.text[:300]}"
        return self.submit(page, form, button=("decision", decision))

    def authorize(self, url: str, user: dict | None = None, consent: str | None = "allow") -> Callback:
        """Open an authorization URL, log in when asked (as `user`), consent when asked; the response."""
        page = self.get(url)
        if user is not None and login_form(page) is not None:
            page = self.login(page, user)
        page = self.second_factor(page)  # a step-up (acr_values) asks only for the code
        if consent is not None and consent_form(page) is not None:
            page = self.consent(page, consent)
        return self.callback(page)

    def callback(self, page: httpx.Response) -> Callback:
        """The authorization response in `page`: a redirect away from leerID, or a form_post page."""
        if page.is_redirect:
            target = urljoin(str(page.url), page.headers["location"])
            if not self.on_issuer(target):
                return Callback("query", target, single(urlsplit(target).query), page)
        if page.status_code == 200 and page.headers.get("content-type", "").startswith("text/html"):
            forms = [f for f in parse_forms(page.text) if f.method == "post" and not self.on_issuer(f.action)]
            if len(forms) == 1:
                return Callback("form_post", forms[0].action, dict(forms[0].fields), page)
        raise NotAtPlatform(f"the browser did not reach the platform: {page.status_code} at {page.url}: "
                            f"{page.text[:400]}")

    def cookie(self, name: str) -> str | None:
        return self.http.cookies.get(name)


# --- discovery, keys and ID tokens ----------------------------------------------------------------------------


def discovery(provider) -> dict:
    response = provider.http.get("/.well-known/openid-configuration")
    assert response.status_code == 200, response.text
    return response.json()


def jwks(provider) -> KeySet:
    """The provider's keys, fetched fresh (keys rotate while the suite runs)."""
    response = provider.http.get("/jwks")
    assert response.status_code == 200, response.text
    return KeySet.import_key_set(response.json())


def verify_jwt(provider, token: str, algorithms: list[str], typ: str | None = None) -> jwt.Token:
    """Signature check against leerID's JWKS, with an explicit list of algorithms."""
    decoded = jwt.decode(token, jwks(provider), algorithms=algorithms)
    if typ is not None:
        assert decoded.header.get("typ") == typ, decoded.header
    assert decoded.header["alg"] in algorithms
    return decoded


def verify_id_token(provider, token: str, client_id: str, alg: str = "ES256", nonce: str | None = None) -> dict:
    """OIDC Core §3.1.3.7: signature with the expected algorithm, then iss, aud, exp, iat and nonce."""
    decoded = verify_jwt(provider, token, [alg])
    assert decoded.header["alg"] == alg
    claims = decoded.claims
    registry = jwt.JWTClaimsRegistry(
        leeway=30,
        iss={"essential": True, "value": provider.issuer},
        aud={"essential": True, "value": client_id},
        sub={"essential": True},
        exp={"essential": True},
        iat={"essential": True},
    )
    registry.validate(claims)
    if isinstance(claims["aud"], list):
        assert claims["aud"] == [client_id] or claims.get("azp") == client_id
    now = time.time()
    assert claims["iat"] <= now + 30, "iat lies in the future"
    assert now < claims["exp"] + 30, "expired"
    if nonce is not None:
        assert claims.get("nonce") == nonce
    return claims


def at_hash(access_token: str) -> str:
    """OIDC Core §3.1.3.6 for ES256 and RS256 (both SHA-256)."""
    return b64url(hashlib.sha256(access_token.encode()).digest()[:16])


def jwt_header(token: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))


# --- the relying party: Authlib's OAuth2Client ----------------------------------------------------------------


def relying_party(provider, client: dict, scope: str = "openid profile", auth_method: str | None = None,
                  **kw) -> OAuth2Client:
    """Authlib's httpx OAuth2Client for a registered client, with PKCE S256."""
    if auth_method is None:
        auth_method = "client_secret_basic" if client.get("client_secret") else "none"
    meta = discovery(provider)
    return OAuth2Client(
        client_id=client["client_id"], client_secret=client.get("client_secret"),
        token_endpoint_auth_method=auth_method, scope=scope, redirect_uri=client["redirect_uri"],
        code_challenge_method="S256", token_endpoint=meta["token_endpoint"], timeout=30, trust_env=False, **kw,
    )


@dataclass
class Login:
    """One finished code flow: what the RP sent, what came back, and the tokens."""

    rp: OAuth2Client
    state: str
    nonce: str
    verifier: str
    callback: Callback
    token: dict | None = None

    @property
    def id_token(self) -> str:
        return self.token["id_token"]

    @property
    def access_token(self) -> str:
        return self.token["access_token"]


def authorization_url(provider, rp: OAuth2Client, **params) -> tuple[str, str, str, str]:
    """(url, state, nonce, code_verifier) of a fresh authorization request with PKCE S256 and a nonce."""
    verifier = secrets.token_urlsafe(48)
    nonce = params.pop("nonce", None) or secrets.token_urlsafe(16)
    url, state = rp.create_authorization_url(discovery(provider)["authorization_endpoint"], code_verifier=verifier,
                                             nonce=nonce, **params)
    return url, state, nonce, verifier


def sign_in(provider, browser: Browser, client: dict, user: dict | None, scope: str = "openid profile",
            redeem: bool = True, auth_method: str | None = None, rp: OAuth2Client | None = None,
            consent: str | None = "allow", **params) -> Login:
    """The whole code flow with Authlib as the RP; the code is redeemed unless redeem=False."""
    rp = rp or relying_party(provider, client, scope=scope, auth_method=auth_method)
    url, state, nonce, verifier = authorization_url(provider, rp, **params)
    callback = browser.authorize(url, user, consent=consent)
    login = Login(rp, state, nonce, verifier, callback)
    if redeem:
        assert callback.params.get("state") == state, callback.params
        assert "code" in callback.params, callback.params
        login.token = rp.fetch_token(code=callback.code, code_verifier=verifier, grant_type="authorization_code",
                                     redirect_uri=client["redirect_uri"])
    return login


def authorize_url(provider, client: dict | None = None, **params) -> str:
    """A hand-made /authorize URL (no PKCE, no nonce unless given); a parameter set to None is left out."""
    query = {"response_type": "code", "scope": "openid", "state": secrets.token_urlsafe(8)}
    if client is not None:
        query.update(client_id=client["client_id"], redirect_uri=client["redirect_uri"])
    query.update(params)
    return f"{provider.issuer}/authorize?{urlencode({k: v for k, v in query.items() if v is not None})}"


# --- raw requests for negative tests --------------------------------------------------------------------------


def token_request(provider, data: dict, client: dict | None = None, basic: bool = True, url: str = "/token",
                  **kw) -> httpx.Response:
    """A raw POST to the token endpoint (or `url`): a confidential client authenticates with client_secret_basic
    (or, basic=False, in the body); a public client sends its client_id."""
    auth = None
    data = dict(data)
    if client is not None:
        if client.get("client_secret") and basic:
            auth = (client["client_id"], client["client_secret"])
        elif client.get("client_secret"):
            data.update(client_id=client["client_id"], client_secret=client["client_secret"])
        else:
            data["client_id"] = client["client_id"]
    return provider.http.post(url, data=data, auth=auth, **kw)


def redeem(provider, client: dict, code: str, verifier: str | None, redirect_uri: str | None = None,
           **kw) -> httpx.Response:
    data = {"grant_type": "authorization_code", "code": code,
            "redirect_uri": redirect_uri or client["redirect_uri"]}
    if verifier is not None:
        data["code_verifier"] = verifier
    return token_request(provider, data, client, **kw)


def refresh(provider, client: dict, refresh_token: str, **extra) -> httpx.Response:
    """A raw refresh_token grant request as `client`."""
    return token_request(provider, dict({"grant_type": "refresh_token", "refresh_token": refresh_token}, **extra),
                         client)


def assert_oauth_error(response: httpx.Response, error: str, status: int | tuple[int, ...] = 400) -> dict:
    """A JSON error body with the spec's error code, the right status, and no stack trace (RFC 6749 §5.2)."""
    statuses = (status,) if isinstance(status, int) else status
    assert response.status_code in statuses, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert body.get("error") == error, body
    assert_no_stack_trace(response)
    return body


def assert_no_stack_trace(response: httpx.Response) -> None:
    text = response.text
    for marker in ("Traceback", 'File "', "werkzeug.debug", "sqlalchemy.exc", "Exception:"):
        assert marker not in text, f"{marker!r} in the response: {text[:500]}"


def userinfo(provider, access_token: str, method: str = "GET") -> httpx.Response:
    headers = {"Authorization": f"Bearer {access_token}"}
    if method == "GET":
        return provider.http.get("/userinfo", headers=headers)
    return provider.http.post("/userinfo", headers=headers)


def introspect(provider, client: dict, token: str, hint: str | None = None) -> httpx.Response:
    data = {"token": token}
    if hint:
        data["token_type_hint"] = hint
    return provider.http.post("/introspect", data=data, auth=(client["client_id"], client["client_secret"]))


def console(provider, admin: dict) -> Browser:
    """A browser logged in at the school console (/beheer) as `admin`."""
    browser = Browser(provider)
    browser.login(browser.get(f"{provider.issuer}/beheer"), admin)
    return browser
