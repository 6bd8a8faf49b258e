"""The release-policy commands of `leerid`: clients policy show/set/request/requests/approve/refuse."""
from __future__ import annotations

import json
from pathlib import Path

import click

from clients.policies import Document, InvalidPolicy
from idp.cli import clients, container, emit, json_option


def read_policy(path: Path) -> Document:
    """A policy document from a JSON file (README, "Release policies")."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8-sig"))
    except (OSError, ValueError) as exc:
        raise InvalidPolicy(f"{path} is not a readable JSON file: {exc}") from exc
    return Document.parse(data)


def policy_summary(policy) -> dict:
    return {"version": policy.version, **policy.document.as_json(), "created_at": policy.created_at.isoformat(),
            "request": policy.request_id}


def request_summary(request, client, changes: dict) -> dict:
    return {"id": request.id, "client_id": client.client_id, "platform": client.name, "vendor": client.vendor,
            "status": request.status, "requested_at": request.requested_at.isoformat(), "note": request.note,
            "changes": changes, "policy": request.document, "version": request.version, "reason": request.reason}


@clients.group("policy")
def policy():
    """A platform's release policy: which attributes, why, for what purpose, on which basis."""


@policy.command("show")
@click.argument("client_id")
@json_option
def policy_show(client_id, as_json):
    """Every version of the platform's policy; the last one is in force."""
    found = container().clients.find(client_id)
    if found is None or found.school_id is not None:
        raise InvalidPolicy(f"no platform with client_id {client_id!r}")
    versions = [policy_summary(p) for p in container().policies.versions(client_id)]
    current = versions[-1] if versions else None
    text = "\n".join(f"version {v['version']}: {v['basis']}, " + (", ".join(
        a["name"] + (" (optional)" if a["optional"] else "") for a in v["attributes"]) or "no attributes")
        for v in versions)
    emit({"client_id": client_id, "name": found.name, "vendor": found.vendor, "current": current,
          "versions": versions}, as_json, text or "no policy")


@policy.command("set")
@click.argument("client_id")
@click.option("--file", "path", type=click.Path(path_type=Path, dir_okay=False), required=True,
              help="The policy as JSON.")
@json_option
def policy_set(client_id, path, as_json):
    """The operator puts a new version in force at once (people are asked for consent again)."""
    made = container().policies.change(client_id, read_policy(path))
    emit(policy_summary(made), as_json, f"policy version {made.version} of {client_id} is in force")


@policy.command("request")
@click.argument("client_id")
@click.option("--file", "path", type=click.Path(path_type=Path, dir_okay=False), required=True,
              help="The policy the vendor asks for, as JSON.")
@click.option("--note", help="The vendor's explanation.")
@json_option
def policy_request(client_id, path, note, as_json):
    """Record a vendor's request to change its policy; it waits for the operator's approval."""
    made = container().policies.request(client_id, read_policy(path), note)
    emit({"id": made.id, "client_id": client_id, "status": made.status}, as_json,
         f"request {made.id} waits for approval")


@policy.command("requests")
@click.option("--all", "everything", is_flag=True, help="Also the approved and refused ones.")
@json_option
def policy_requests(everything, as_json):
    """The vendors' requests waiting for approval, oldest first."""
    found = [request_summary(*row) for row in container().policies.requests(None if everything else "pending")]
    text = "\n".join(f"{r['id']}  {r['status']}  {r['platform']}  added: {', '.join(r['changes']['added']) or '-'}"
                     f"  removed: {', '.join(r['changes']['removed']) or '-'}" for r in found)
    emit({"requests": found}, as_json, text or "no requests")


@policy.command("approve")
@click.argument("request_id", type=int)
@json_option
def policy_approve(request_id, as_json):
    """The requested policy becomes the platform's next version."""
    done = container().policies.decide(request_id, approve=True)
    emit({"id": done.id, "status": done.status, "version": done.version}, as_json,
         f"request {done.id} approved: policy version {done.version} is in force")


@policy.command("refuse")
@click.argument("request_id", type=int)
@click.option("--reason", required=True, help="Why, for the vendor.")
@json_option
def policy_refuse(request_id, reason, as_json):
    done = container().policies.decide(request_id, approve=False, reason=reason)
    emit({"id": done.id, "status": done.status}, as_json, f"request {done.id} refused")
