"""The mandate commands of `leerid`: mandates grant, revoke and list (DESIGN.md)."""
from __future__ import annotations

import click

from idp.cli import cli, container, emit, json_option, parse_date


def mandate_summary(held) -> dict:
    m = held.mandate
    return {"id": m.id, "from": held.represented.username, "to": held.actor.username if held.actor else None,
            "type": m.type, "state": held.state, "scope": list(m.actions), "clients": m.clients,
            "from_date": m.valid_from.isoformat(), "until": m.valid_until.isoformat() if m.valid_until else None}


def _line(summary: dict) -> str:
    return (f"{summary['id']}  {summary['state']}  {summary['type']}: {summary['to']} for {summary['from']}"
            f" ({', '.join(summary['scope'])})")


@cli.group()
def mandates():
    """Who may act for whom: parents, schools, assistants."""


@mandates.command("grant")
@click.option("--from", "represented", required=True, help="The username of the person represented.")
@click.option("--to", "actor", required=True, help="The username of the person who may act.")
@click.option("--type", "kind", required=True, help="parent, school or assistant")
@click.option("--scope", "actions", multiple=True, help="login, consent, manage-account, view-activity (default all)")
@click.option("--client", "clients", multiple=True, help="Only at this platform (repeatable).")
@click.option("--from-date")
@click.option("--until", help="The last day the mandate holds (YYYY-MM-DD).")
@json_option
def mandates_grant(represented, actor, kind, actions, clients, from_date, until, as_json):
    """An active mandate granted by the operator."""
    held = container().mandates.grant(represented, actor, kind, list(actions), list(clients),
                                      parse_date(from_date, "--from-date"), parse_date(until, "--until"))
    summary = mandate_summary(held)
    emit(summary, as_json, f"mandate {_line(summary)}")


@mandates.command("revoke")
@click.argument("mandate_id", type=int)
@json_option
def mandates_revoke(mandate_id, as_json):
    """Ends the mandate at once."""
    summary = mandate_summary(container().mandates.revoke(mandate_id))
    emit(summary, as_json, f"mandate {_line(summary)}")


@mandates.command("list")
@click.option("--username", help="Only the mandates in which this person is either party.")
@json_option
def mandates_list(username, as_json):
    account_id = container().accounts.show(username).id if username else None
    found = [mandate_summary(h) for h in container().mandates.list(account_id)]
    emit({"mandates": found}, as_json, "\n".join(_line(s) for s in found) or "no mandates")


@mandates.command("sweep")
@click.option("--as-of", help="The day to judge by (YYYY-MM-DD, default today).")
@json_option
def mandates_sweep(as_of, as_json):
    """Run daily: mandates whose time is over are marked expired, and platforms where they were used are told."""
    ended = [mandate_summary(h) for h in container().mandates.sweep(parse_date(as_of, "--as-of"))]
    emit({"expired": ended}, as_json, "\n".join(_line(s) for s in ended) or "no mandate ended")
