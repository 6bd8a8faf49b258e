"""`leerid clients subject-type`: a platform moves from pairwise to public subjects (README, "From pairwise to
public subjects")."""
from __future__ import annotations

import json
import os
from pathlib import Path

import click

from clients.errors import InvalidClientMetadata
from idp.cli import clients, container, emit, json_option


def create_private(path: Path, mapping: dict) -> None:
    """Write the mapping to a new file only its owner can read (it links each person's two subjects)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise InvalidClientMetadata(f"{path} exists already: name a new file for the mapping") from None
    except OSError as exc:
        raise InvalidClientMetadata(f"{path} cannot be created: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(mapping, out, indent=1)
            out.write("\n")
    except BaseException:
        path.unlink(missing_ok=True)  # never half a mapping
        raise


@clients.command("subject-type")
@click.argument("client_id")
@click.argument("subject_type", metavar="public")
@click.option("--mapping", "path", type=click.Path(path_type=Path, dir_okay=False),
              help="A new JSON file: every person's old pairwise sub and new public sub, for the vendor.")
@json_option
def clients_subject_type(client_id, subject_type, path, as_json):
    """Give a pairwise platform public subjects, after writing the mapping its vendor re-keys its accounts with."""
    if subject_type != "public":
        raise InvalidClientMetadata("subjects move only from pairwise to public: a platform that moved back would "
                                    "lose the link to its accounts")
    if path is None:
        raise click.UsageError("--mapping FILE is needed: the vendor re-keys its accounts with it")
    c, written = container(), []

    def write(mapping: dict) -> None:
        create_private(path, mapping)
        written.append(path)

    try:
        people = c.subjects.make_public(client_id, write)
    except BaseException:
        for done in written:
            done.unlink(missing_ok=True)  # the change was not committed: the mapping goes too
        raise
    c.clients.forget(client_id)  # this process's copy; a running provider's expires with its client cache
    emit({"client_id": client_id, "from": "pairwise", "to": "public", "people": people, "mapping": str(path)},
         as_json, f"platform {client_id} has public subjects now; {people} people mapped in {path}")
