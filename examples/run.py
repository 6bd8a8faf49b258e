"""`leerid demo`: migrate, load the demo data, start leerID and both platforms, print where they are.

Ports come from LEERID_DEMO_PORTS ("5000,5001,5002": leerID, Rekenrups, Schoolportaal). The issuer is
http://127.0.0.1:<leerID port>. Everything runs until Ctrl-C (or SIGTERM), then every server is stopped.
"""
from __future__ import annotations

import json
import os
import signal
import sys
from contextlib import contextmanager

import click

from config.settings import Settings
from examples.demo_data import SCHOOL_NAME, SCHOOL_NUMBER, DemoClient, leerid_command, load, logins, refuse_production
from examples.platforms import PLATFORMS
from examples.processes import DemoError, Servers, port_free

DEFAULT_PORTS = (5000, 5001, 5002)
ROLE_WORDS = {"pupil": "leerling / pupil", "teacher": "leerkracht / teacher",
              "staff": "schoolbeheerder / admin", "parent": "ouder van Lotte / parent"}


def demo_ports(environ=None) -> tuple[int, int, int]:
    raw = (os.environ if environ is None else environ).get("LEERID_DEMO_PORTS", "")
    if not raw.strip():
        return DEFAULT_PORTS
    parts = raw.replace(",", " ").split()
    if len(parts) != 3 or not all(p.isdigit() and 0 < int(p) < 65536 for p in parts) or len(set(parts)) != 3:
        raise DemoError("LEERID_DEMO_PORTS must be three different ports: leerID, Rekenrups, Schoolportaal "
                        f"(e.g. 5000,5001,5002), got {raw!r}")
    return int(parts[0]), int(parts[1]), int(parts[2])


def demo_env(issuer_port: int) -> dict:
    """The provider's environment: the demo issuer, an absolute var dir, no proxy for this machine."""
    env = dict(os.environ)
    env["LEERID_ISSUER"] = f"http://127.0.0.1:{issuer_port}"
    env["LEERID_VAR_DIR"] = os.path.abspath(env.get("LEERID_VAR_DIR") or "var")
    env["NO_PROXY"] = env["no_proxy"] = ",".join(filter(None, ["127.0.0.1,localhost", env.get("NO_PROXY")]))
    return env


def migrate(settings: Settings):
    """What `leerid db upgrade` does: the schema, the first signing keys, the pairwise salt."""
    from idp.wiring import Container
    from migrations import upgrade

    container = Container(settings)
    upgrade(container.settings.database_url)
    container.keys.ensure()
    container.subjects.ensure()
    return container


def run_demo(as_json: bool) -> None:
    ports = demo_ports()
    env = demo_env(ports[0])
    settings = Settings.from_env(env)
    refuse_production(settings)
    busy = [p for p in ports if not port_free(p)]
    if busy:
        raise DemoError(f"port {busy[0]} is in use (another demo?); stop it or set LEERID_DEMO_PORTS=a,b,c")
    note("Databank en demogegevens klaarzetten / preparing the database and demo data ...")
    container = migrate(settings)
    urls = {slug: f"http://127.0.0.1:{port}" for slug, port in zip(PLATFORMS, ports[1:])}
    clients = load(container, urls, settings.var_dir / "demo.json")
    container.db.engine.dispose()
    log_dir = settings.var_dir / "demo-logs"
    with interrupted_by_signals(), Servers(log_dir) as servers:
        try:
            note("leerID en de twee platformen starten / starting leerID and both platforms ...")
            start_all(servers, env, ports[0], clients)
            servers.wait_ready()
            click.echo(summary(settings.issuer, clients, str(log_dir), as_json))
            sys.stdout.flush()
            servers.watch()
        except KeyboardInterrupt:
            note("\nDe demo stopt / stopping the demo ...")
    note("Gestopt / stopped.")


def start_all(servers: Servers, env: dict, issuer_port: int, clients: dict[str, DemoClient]) -> None:
    issuer = env["LEERID_ISSUER"]
    servers.start("leerid", [*leerid_command(), "serve", "--host", "127.0.0.1", "--port", str(issuer_port)],
                  env, f"{issuer}/readyz")
    for slug, client in clients.items():
        peers = " ".join(f"{other}={c.base_url}/" for other, c in clients.items() if other != slug)
        rp_env = dict(env, LEERID_RP_ISSUER=issuer, LEERID_RP_CLIENT_ID=client.client_id,
                      LEERID_RP_CLIENT_SECRET=client.client_secret, LEERID_RP_BASE_URL=client.base_url,
                      LEERID_RP_PEERS=peers)
        port = client.base_url.rsplit(":", 1)[1]
        # -P: this directory is not put on sys.path, so a folder named "examples" here cannot stand in.
        servers.start(slug, [sys.executable, "-P", "-m", "examples.serve", slug, "--port", port], rp_env,
                      f"{client.base_url}/")


def summary(issuer: str, clients: dict[str, DemoClient], log_dir: str, as_json: bool) -> str:
    if as_json:
        return json.dumps({
            "issuer": issuer, "school": {"number": SCHOOL_NUMBER, "name": SCHOOL_NAME},
            "platforms": [{"slug": slug, "name": PLATFORMS[slug].name, "url": f"{c.base_url}/",
                           "client_id": c.client_id} for slug, c in clients.items()],
            "logins": logins(), "logs": log_dir,
        })
    width = max(len(p.name) for p in PLATFORMS.values())
    lines = ["", "De leerID-demo draait. / The leerID demo is running.", "",
             f"  {'leerID':<{width}}  {issuer}  (issuer: {issuer}/.well-known/openid-configuration)"]
    lines += [f"  {PLATFORMS[slug].name:<{width}}  {c.base_url}/" for slug, c in clients.items()]
    lines += [f"  {'Schoolbeheer':<{width}}  {issuer}/beheer  (school console)"]
    lines += [f"  {'Mijn leerID':<{width}}  {issuer}/mijn  (my data, apps, mandates)"]
    lines += ["", f"Demo-aanmeldingen / demo logins ({SCHOOL_NAME}, {SCHOOL_NUMBER}):"]
    lines += [f"  {ROLE_WORDS.get(a['role'], a['role']):<25}{a['username']:<16}wachtwoord / password: {a['password']}"
              for a in logins()]
    lines += ["  Leerkracht en schoolbeheerder stellen bij hun eerste aanmelding een code-app in (scan de QR-code).",
              "  The teacher and the administrator set up a code app at their first login (scan the QR code)."]
    lines += ["",
              "Open een platform, klik op 'Aanmelden met leerID' en open daarna het andere: je bent er al aangemeld.",
              "Open one platform, log in with leerID, then open the other: you are logged in there already.",
              "Meld je af bij het Schoolportaal en herlaad Rekenrups: ook daar ben je afgemeld.",
              "Log out at the Schoolportaal and reload Rekenrups: you are logged out there too (back-channel logout).",
              f"Stoppen / stop: Ctrl-C.   Logboeken / logs: {log_dir}", ""]
    return "\n".join(lines)


def note(text: str) -> None:
    click.echo(text, err=True)


@contextmanager
def interrupted_by_signals():
    """`kill PID` and `kill -INT PID` stop the demo as Ctrl-C does, with every server stopped, even when a
    shell started the demo in the background (with SIGINT ignored)."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
