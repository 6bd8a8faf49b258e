"""Run one demo platform: python -m examples.serve rekenrups|schoolportaal [options].

Every option can come from the environment (LEERID_RP_*), which is how `leerid demo` and docker-compose
pass the client secret: an environment variable is not visible in the process list, a command-line one is.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import click

from examples.platforms import PLATFORMS
from examples.rp import RpConfig, create_rp


def client_from_file(path: Path, slug: str) -> tuple[str, str]:
    """The platform's client_id and client_secret from the demo state file (var/demo.json)."""
    try:
        entry = json.loads(path.read_text())["clients"][slug]
        return entry["client_id"], entry["client_secret"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise click.UsageError(f"{path} has no client for {slug}: {exc}") from exc


def parse_peers(values: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """--peer schoolportaal=http://127.0.0.1:5002/ (the name comes from PLATFORMS)."""
    peers = []
    for value in values:
        slug, _, url = value.partition("=")
        if slug not in PLATFORMS or not url.startswith(("http://", "https://")):
            raise click.BadParameter(f"--peer must be SLUG=URL with SLUG one of {', '.join(PLATFORMS)}, got {value!r}")
        peers.append((PLATFORMS[slug].name, url))
    return tuple(peers)


@click.command()
@click.argument("slug", type=click.Choice(sorted(PLATFORMS)))
@click.option("--issuer", envvar="LEERID_RP_ISSUER", default="http://127.0.0.1:5000", show_default=True)
@click.option("--client-id", envvar="LEERID_RP_CLIENT_ID")
@click.option("--client-secret", envvar="LEERID_RP_CLIENT_SECRET")
@click.option("--clients-file", envvar="LEERID_RP_CLIENTS_FILE", type=click.Path(path_type=Path),
              help="Read client_id and client_secret from this demo state file (var/demo.json).")
@click.option("--host", envvar="LEERID_RP_HOST", default="127.0.0.1", show_default=True)
@click.option("--port", envvar="LEERID_RP_PORT", type=int, help="Default: 5001 (rekenrups), 5002 (schoolportaal).")
@click.option("--base-url", envvar="LEERID_RP_BASE_URL", help="Where browsers reach it; default http://127.0.0.1:PORT.")
@click.option("--secret-key", envvar="LEERID_RP_SECRET_KEY", help="Signs the session cookie; default: random.")
@click.option("--peer", "peers", multiple=True, envvar="LEERID_RP_PEERS", help="SLUG=URL of another platform.")
def main(slug, issuer, client_id, client_secret, clients_file, host, port, base_url, secret_key, peers):
    """Run one demo platform against leerID."""
    from werkzeug.serving import run_simple

    platform = PLATFORMS[slug]
    port = port or platform.default_port
    if not client_id and clients_file:
        client_id, client_secret = client_from_file(clients_file, slug)
    if not client_id or not client_secret:
        raise click.UsageError("give --client-id and --client-secret (or LEERID_RP_CLIENT_ID/_SECRET, or --clients-file)")
    config = RpConfig(issuer=issuer, client_id=client_id, client_secret=client_secret,
                      base_url=base_url or f"http://127.0.0.1:{port}", peers=parse_peers(peers),
                      **({"secret_key": secret_key} if secret_key else {}))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # its request lines would log authorization codes
    click.echo(f"{platform.name} at {config.base_url} (listening on {host}:{port}), leerID at {issuer}", err=True)
    run_simple(host, port, create_rp(platform, config), threaded=True, use_reloader=False, use_debugger=False)


if __name__ == "__main__":
    main()
