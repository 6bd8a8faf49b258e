"""The demo's school, accounts and two platforms, loaded idempotently.

The platforms' client ids and secrets are kept in var/demo.json, so that a second run reuses them; a client
that the database no longer has (or no longer fits the ports, or was registered without the platform's
back-channel logout URI by an older demo) is registered anew.

For docker-compose: `python -m examples.demo_data` loads the data and writes the state file.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path

from idp.wiring import Container  # first: `import clients.service` alone is a circular import (see report)
from clients.service import NewClient  # noqa: E402  (isort: skip)
from idp.accounts import AccountRepository, NewAccount
from idp.errors import LeerIDError

from examples.platforms import PLATFORMS

SCHOOL_NUMBER, SCHOOL_NAME = "999001", "Basisschool De Regenboog"
# Demo accounts with published passwords: development only (run_demo refuses LEERID_ENV=production).
ACCOUNTS = (
    NewAccount(username="lotte.peeters", password="rekenrups-lotte", given_name="Lotte", family_name="Peeters",
               role="pupil", school=SCHOOL_NUMBER, class_name="5A", birthdate=date(2015, 3, 14)),
    NewAccount(username="an.jacobs", password="regenboog-juf-an", given_name="An", family_name="Jacobs",
               role="teacher", school=SCHOOL_NUMBER, email="an.jacobs@regenboog.example"),
    NewAccount(username="els.wouters", password="regenboog-beheer-els", given_name="Els", family_name="Wouters",
               role="staff", school=SCHOOL_NUMBER, email="els.wouters@regenboog.example", school_admin=True),
    NewAccount(username="an.peeters", password="regenboog-mama-an", given_name="An", family_name="Peeters",
               role="parent", email="an.peeters@thuis.example"),
)
PARENT_OF = ("lotte.peeters", "an.peeters")  # a parent mandate: An may act for Lotte (the chooser shows it)
ATTRIBUTES = ("given_name", "family_name", "name", "preferred_username")


@dataclass(frozen=True)
class DemoClient:
    slug: str
    client_id: str
    client_secret: str
    base_url: str

    @property
    def redirect_uri(self) -> str:
        return f"{self.base_url}/callback"

    @property
    def post_logout_redirect_uri(self) -> str:
        return f"{self.base_url}/"

    @property
    def backchannel_logout_uri(self) -> str:
        """Where leerID POSTs logout tokens (examples.rp: backchannel_logout)."""
        return f"{self.base_url}/backchannel-logout"


class DemoRefused(LeerIDError):
    """The demo accounts have published passwords: never in production."""


def refuse_production(settings) -> None:
    if settings.production:
        raise DemoRefused("the demo accounts have published passwords: not with LEERID_ENV=production")


def load(container: Container, base_urls: dict[str, str], state_path: Path) -> dict[str, DemoClient]:
    """School, accounts and a client per platform (slug -> base URL); returns the clients."""
    ensure_school(container)
    for new in ACCOUNTS:
        ensure_account(container, new)
    ensure_mandate(container, *PARENT_OF)
    saved = read_state(state_path)
    clients = {slug: ensure_client(container, slug, url.rstrip("/"), saved.get(slug))
               for slug, url in base_urls.items()}
    write_state(state_path, clients)
    for client in clients.values():
        activate(client.client_id)
    return clients


def ensure_school(container: Container) -> None:
    with container.db.read() as session:
        if AccountRepository(session).find_school(SCHOOL_NUMBER):
            return
    container.accounts.create_school(SCHOOL_NUMBER, SCHOOL_NAME)


def ensure_account(container: Container, new: NewAccount) -> None:
    with container.db.read() as session:
        if AccountRepository(session).find_by_username(new.username):
            return
    container.accounts.create_account(new)


def ensure_mandate(container: Container, child: str, parent: str) -> None:
    """The parent mandate, registered as the operator would (`leerid mandates grant`), once."""
    with container.db.read() as session:
        ids = {a: AccountRepository(session).find_by_username(a).id for a in (child, parent)}
    held = container.mandates.list(ids[child])
    if not any(h.mandate.actor_id == ids[parent] and h.state == "active" for h in held):
        container.mandates.grant(child, parent, "parent")


def ensure_client(container: Container, slug: str, base_url: str, saved: dict | None) -> DemoClient:
    if saved and saved.get("base_url") == base_url:
        candidate = DemoClient(slug, saved["client_id"], saved["client_secret"], base_url)
        if still_registered(container, candidate):
            return candidate
    platform = PLATFORMS[slug]
    wanted = DemoClient(slug, "", "", base_url)
    registered = container.clients.create(NewClient(
        name=platform.name, redirect_uris=(wanted.redirect_uri,), scopes=("openid", "profile"),
        attributes=ATTRIBUTES, purpose=platform.purpose, basis="school-agreement",
        post_logout_redirect_uris=(wanted.post_logout_redirect_uri,),
        backchannel_logout_uri=wanted.backchannel_logout_uri,
    ))
    return DemoClient(slug, registered.client.client_id, registered.client_secret or "", base_url)


def still_registered(container: Container, client: DemoClient) -> bool:
    found = container.clients.find(client.client_id)
    return (found is not None and found.check_client_secret(client.client_secret)
            and client.redirect_uri in found.redirect_uris
            and client.post_logout_redirect_uri in (found.post_logout_redirect_uris or [])
            and found.backchannel_logout_uri == client.backchannel_logout_uri)


def activate(client_id: str) -> None:
    """`leerid clients activate CLIENT_ID --school N`, so that the school agreement covers the demo pupils.

    Through the command line (DESIGN.md), not a Python API; a leerID without the command, or one that has
    the activation already, is fine as it is.
    """
    subprocess.run([*leerid_command(), "clients", "activate", client_id, "--school", SCHOOL_NUMBER, "--json"],
                   capture_output=True, text=True, timeout=120, check=False)


def leerid_command() -> list[str]:
    """The `leerid` script beside this Python, or the same entry point through -c."""
    script = Path(sys.executable).with_name("leerid")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from idp.cli import entry; entry()"]


def read_state(path: Path) -> dict:
    try:
        return json.loads(path.read_text()).get("clients", {})
    except (OSError, ValueError, AttributeError):
        return {}


def write_state(path: Path, clients: dict[str, DemoClient]) -> None:
    """var/demo.json holds client secrets: readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump({"clients": {slug: asdict(c) for slug, c in clients.items()}}, out, indent=2)
    os.replace(tmp, path)


def logins() -> list[dict]:
    return [{"username": a.username, "password": a.password, "role": a.role, "name": f"{a.given_name} {a.family_name}"}
            for a in ACCOUNTS]


def main() -> None:
    """docker-compose's demo-data step: the schema exists already (the migrate service made it)."""
    from config.settings import Settings

    settings = Settings.from_env()
    refuse_production(settings)
    base = os.environ.get("LEERID_DEMO_BASE_URLS", "")
    urls = dict(pair.split("=", 1) for pair in base.split()) if base else {
        slug: f"http://127.0.0.1:{p.default_port}" for slug, p in PLATFORMS.items()}
    clients = load(Container(settings), urls, settings.var_dir / "demo.json")
    print(json.dumps({"issuer": settings.issuer, "clients": {s: c.client_id for s, c in clients.items()},
                      "logins": logins()}))


if __name__ == "__main__":
    main()
