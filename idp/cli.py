"""The `leerid` command line (DESIGN.md: Command line)."""
from __future__ import annotations

import json
import signal
import sys
from datetime import date
from pathlib import Path

import click
from sqlalchemy.exc import OperationalError, ProgrammingError

from config.settings import ConfigError, Settings
from idp.errors import LeerIDError


def container():
    from idp.wiring import Container

    return Container(Settings.from_env())


def emit(result: dict, as_json: bool, text: str) -> None:
    click.echo(json.dumps(result, default=str) if as_json else text)


def json_option(fn):
    """Every command takes --json and then prints one JSON object on stdout."""
    return click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")(fn)


def parse_date(value: str | None, name: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{name} must be YYYY-MM-DD, got {value!r}") from None


@click.group()
def cli():
    """leerID: single sign-on for Flemish education."""


@cli.group()
def db():
    """The database schema."""


@db.command("upgrade")
@json_option
def db_upgrade(as_json):
    """Create or migrate the schema, then make the first signing keys."""
    from migrations import upgrade

    c = container()
    revision = upgrade(c.settings.database_url)
    c.keys.ensure()
    c.subjects.ensure()
    emit({"revision": revision}, as_json, f"database at revision {revision}")


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, type=int, show_default=True)
@json_option
def serve(host, port, as_json):
    """Run the provider (development server; production runs gunicorn with idp.wsgi:app)."""
    from werkzeug.serving import run_simple

    from idp import configure_logging, create_app

    settings = Settings.from_env()
    configure_logging(settings.log_level)
    app = create_app(settings)
    # SIGTERM ends the process the way Ctrl-C does, so the embedded Redis is shut down with it.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    if not as_json:
        click.echo(f"leerID at {settings.issuer} (listening on {host}:{port})", err=True)
    run_simple(host, port, app, threaded=True, use_reloader=False, use_debugger=False)


@cli.command()
@json_option
def demo(as_json):
    """Migrate, load the demo data, start leerID and both demo platforms."""
    from examples.run import run_demo

    run_demo(as_json)


@cli.group()
def schools():
    """Schools (instellingen)."""


@schools.command("create")
@click.option("--number", required=True, help="The instellingsnummer.")
@click.option("--name", required=True)
@click.option("--level", help="basis, secundair, volwassenen or hoger")
@json_option
def schools_create(number, name, level, as_json):
    school = container().accounts.create_school(number, name, level)
    emit({"id": school.id, "number": school.number, "name": school.name, "level": school.level}, as_json,
         f"school {school.number} {school.name}")


@schools.command("list")
@json_option
def schools_list(as_json):
    found = [{"id": s.id, "number": s.number, "name": s.name, "level": s.level}
             for s in container().accounts.schools()]
    emit({"schools": found}, as_json, "\n".join(f"{s['number']}  {s['name']}" for s in found) or "no schools")


@cli.group()
def users():
    """Accounts of pupils, teachers, staff and parents."""


@users.command("create")
@click.option("--username", required=True)
@click.option("--password", required=True)
@click.option("--given-name", required=True)
@click.option("--family-name", required=True)
@click.option("--role", required=True, help="pupil, teacher, staff or parent")
@click.option("--school", help="The school's number.")
@click.option("--class", "class_name", help="The pupil's class.")
@click.option("--birthdate", help="YYYY-MM-DD")
@click.option("--email")
@click.option("--school-admin", is_flag=True, help="Make this staff member administrator of --school.")
@json_option
def users_create(username, password, given_name, family_name, role, school, class_name, birthdate, email,
                 school_admin, as_json):
    from idp.accounts import NewAccount

    account = container().accounts.create_account(NewAccount(
        username=username, password=password, given_name=given_name, family_name=family_name, role=role,
        school=school, class_name=class_name, birthdate=parse_date(birthdate, "--birthdate"), email=email,
        school_admin=school_admin,
    ))
    emit({"id": account.id, "username": account.username, "role": account.role}, as_json,
         f"account {account.username} ({account.role}) id {account.id}")


def account_summary(account) -> dict:
    return {
        "id": account.id, "username": account.username, "given_name": account.given_name,
        "family_name": account.family_name, "role": account.role, "email": account.email,
        "birthdate": account.birthdate.isoformat() if account.birthdate else None,
        "active": account.disabled_at is None,
        "memberships": [{"school": m.school.number, "school_name": m.school.name, "role": m.role,
                         "class": m.class_name, "school_admin": m.is_admin, "valid_from": m.valid_from.isoformat(),
                         "valid_until": m.valid_until.isoformat() if m.valid_until else None}
                        for m in account.memberships],
    }


@users.command("show")
@click.argument("username")
@json_option
def users_show(username, as_json):
    summary = account_summary(container().accounts.show(username))
    lines = [f"{summary['username']} ({summary['role']}) {summary['given_name']} {summary['family_name']}",
             f"active: {'yes' if summary['active'] else 'no'}"]
    lines += [f"school {m['school']} {m['school_name']}: {m['role']}" + (f", class {m['class']}" if m["class"] else "")
              + (", administrator" if m["school_admin"] else "") for m in summary["memberships"]]
    emit(summary, as_json, "\n".join(lines))


@users.command("deactivate")
@click.argument("username")
@json_option
def users_deactivate(username, as_json):
    """The person can no longer log in; their refresh tokens stop working at once."""
    account = container().accounts.deactivate(username)
    emit({"id": account.id, "username": account.username, "active": False}, as_json,
         f"account {account.username} deactivated")


@users.command("sweep")
@click.option("--as-of", help="The day to count from (YYYY-MM-DD; default today).")
@click.option("--dry-run", is_flag=True, help="List who would be deactivated, change nothing.")
@json_option
def users_sweep(as_of, dry_run, as_json):
    """Deactivate those whose last school membership ended longer ago than LEERID_LEAVER_GRACE_DAYS (run daily)."""
    c = container()
    grace = c.settings.leaver_grace_days
    usernames = c.accounts.sweep_leavers(grace, parse_date(as_of, "--as-of"), dry_run)
    emit({"deactivated": usernames, "grace_days": grace, "dry_run": dry_run}, as_json,
         f"{'would deactivate' if dry_run else 'deactivated'} {len(usernames)} account(s) "
         f"(grace {grace} days)" + "".join(f"\n  {u}" for u in usernames))


@users.command("letters")
@click.option("--school", required=True, help="The school's number.")
@click.option("--class", "class_name", help="Only this class.")
@click.option("--all", "everyone", is_flag=True, help="Also people who already chose a password.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Where to write the printable HTML page.")
@json_option
def users_letters(school, class_name, everyone, output, as_json):
    """First-login letters: a one-time activation code (14 days) per person, as a printable page."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    c = container()
    letters = c.activation.issue_letters(school, class_name, everyone=everyone)
    environment = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                              autoescape=select_autoescape())
    school_row = next(s for s in c.accounts.schools() if s.number == school)
    html = environment.get_template("letters.html").render(
        letters=letters, school=school_row, class_name=class_name,
        activation_url=f"{c.settings.issuer}/activeren")
    output.write_text(html, encoding="utf-8")
    emit({"letters": len(letters), "file": str(output)}, as_json, f"{len(letters)} letters written to {output}")


@cli.group()
def clients():
    """Relying parties (learning platforms)."""


@clients.command("create")
@click.option("--name", required=True)
@click.option("--redirect-uri", "redirect_uris", multiple=True, required=True)
@click.option("--public", is_flag=True, help="A public client (no secret; PKCE required).")
@click.option("--scope", "scopes", multiple=True)
@click.option("--attribute", "attributes", multiple=True)
@click.option("--purpose")
@click.option("--basis", default="school-agreement", show_default=True)
@click.option("--subject-type", default="pairwise", show_default=True)
@click.option("--post-logout-redirect-uri", "post_logout", multiple=True)
@click.option("--backchannel-logout-uri")
@click.option("--token-auth-method")
@click.option("--jwks-uri")
@click.option("--jwks", "jwks_file", type=click.Path(path_type=Path))
@click.option("--id-token-alg", default="ES256", show_default=True)
@json_option
def clients_create(name, redirect_uris, public, scopes, attributes, purpose, basis, subject_type, post_logout,
                   backchannel_logout_uri, token_auth_method, jwks_uri, jwks_file, id_token_alg, as_json):
    from clients.service import NewClient

    registered = container().clients.create(NewClient(
        name=name, redirect_uris=redirect_uris, public=public, scopes=scopes or ("openid", "profile"),
        attributes=attributes, purpose=purpose, basis=basis, subject_type=subject_type,
        post_logout_redirect_uris=post_logout, backchannel_logout_uri=backchannel_logout_uri,
        token_auth_method=token_auth_method, jwks_uri=jwks_uri, jwks_file=jwks_file, id_token_alg=id_token_alg,
    ))
    client = registered.client
    result = {"client_id": client.client_id, "client_secret": registered.client_secret, "name": client.name,
              "redirect_uris": client.redirect_uris, "token_endpoint_auth_method": client.token_endpoint_auth_method}
    emit(result, as_json, f"client {client.client_id}" + (f" secret {registered.client_secret}"
                                                          if registered.client_secret else ""))


@cli.group("import")
def import_():
    """Bulk imports from school software."""


@import_.command("roster")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--school", required=True, help="The school's number.")
@click.option("--dry-run", is_flag=True, help="Check and count, but write nothing.")
@click.option("--as-of", help="The day the roster takes effect (YYYY-MM-DD; default today).")
@json_option
def import_roster(file, school, dry_run, as_of, as_json):
    """One row per person; see the column list in idp/roster.py (and the README)."""
    from rich.progress import Progress

    from idp.roster import parse
    from idp.roster_import import RosterImporter

    raw = file.read_bytes()
    total = len(parse(raw).rows) if not as_json else 0
    importer = RosterImporter(container().db)
    with Progress(disable=as_json, transient=True, console=rich_stderr()) as bar:
        task = bar.add_task("importeren / importing", total=total)
        report = importer.run(school, raw, dry_run=dry_run, today=parse_date(as_of, "--as-of"),
                              progress=lambda n: bar.advance(task, n))
    emit_report(report, as_json)


def rich_stderr():
    from rich.console import Console

    return Console(stderr=True)


def emit_report(report, as_json: bool) -> None:
    counts = {k: getattr(report, k) for k in ("rows", "created", "matched", "moved", "updated", "unchanged", "ended")}
    problems = [{"line": r.line, "reason": r.reason} for r in report.rejected]
    held = [{"line": r.line, "reason": r.reason} for r in report.uncertain]
    result = dict(counts, school=report.school, dry_run=report.dry_run, rejected=problems, uncertain=held)
    lines = [("dry run, nothing written: " if report.dry_run else "") +
             ", ".join(f"{v} {k}" for k, v in counts.items())]
    lines += [f"line {p['line']}: rejected: {p['reason']}" for p in problems]
    lines += [f"line {p['line']}: held for review: {p['reason']}" for p in held]
    emit(result, as_json, "\n".join(lines))


@cli.group()
def keys():
    """The provider's signing keys."""


@keys.command("rotate")
@json_option
def keys_rotate(as_json):
    kids = container().keys.rotate()
    emit({"kids": kids}, as_json, "new signing keys: " + ", ".join(kids))


@cli.group()
def audit():
    """The audit log."""


@audit.command("verify")
@json_option
def audit_verify(as_json):
    """Check the hash chain; a non-zero exit names the first broken record."""
    checked, broken = container().audit.verify()
    if broken is None:
        emit({"ok": True, "records": checked}, as_json, f"audit log intact: {checked} records")
        return
    emit({"ok": False, "records": checked, "broken_at": broken.seq, "reason": broken.reason}, as_json,
         f"audit log broken at record {broken.seq}: {broken.reason}")
    raise SystemExit(3)


def main(argv: list[str] | None = None) -> int:
    """Bad input: one line on stderr and a non-zero exit, with nothing written."""
    try:
        cli.main(args=argv, prog_name="leerid", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("leerid: aborted", err=True)
        return 1
    except click.ClickException as exc:
        click.echo(f"leerid: {exc.format_message()}", err=True)
        return 2
    except (LeerIDError, ConfigError) as exc:
        click.echo(f"leerid: {exc}", err=True)
        return 1
    except (OperationalError, ProgrammingError) as exc:
        missing = any(s in str(exc.orig).lower() for s in ("no such table", "does not exist", "undefinedtable"))
        reason = "the database has no leerID schema yet: run `leerid db upgrade`" if missing \
            else f"the database cannot be used: {str(exc.orig).splitlines()[0]}"
        click.echo(f"leerid: {reason}", err=True)
        return 1
    return 0


def entry() -> None:
    sys.exit(main())

