"""The directory commands of `leerid`: schools list, users show/deactivate/totp/sweep/letters, import roster."""
from __future__ import annotations

from pathlib import Path

import click

from idp.cli import cli, container, emit, json_option, parse_date, schools, users
from idp.errors import StoreUnavailable


@schools.command("list")
@json_option
def schools_list(as_json):
    found = [{"id": s.id, "number": s.number, "name": s.name, "level": s.level}
             for s in container().accounts.schools()]
    emit({"schools": found}, as_json, "\n".join(f"{s['number']}  {s['name']}" for s in found) or "no schools")


@schools.command("provisioning-client")
@click.option("--school", required=True, help="The school's number.")
@click.option("--name", help="A name for the client (default: Schoolsoftware <school>).")
@json_option
def schools_provisioning_client(school, name, as_json):
    """A client_credentials client for the school's administration software: SCIM at /scim/v2, this school only."""
    registered = container().clients.create_provisioning(school, name)
    emit({"client_id": registered.client.client_id, "client_secret": registered.client_secret}, as_json,
         f"client {registered.client.client_id} secret {registered.client_secret} (shown once)")


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
        "parent_emails": sorted({p.email for p in account.parent_emails}),
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
    """The person can no longer log in; their refresh tokens stop working and their sessions end at once, and the
    platforms in those sessions get a back-channel logout."""
    c = container()
    account = c.accounts.deactivate(username)
    try:
        c.sessions.end_all(account.id, tell=True)
    except StoreUnavailable:  # the deactivation holds: a session of theirs is refused at its next use anyway
        click.echo("warning: Redis unavailable: the platforms were not told", err=True)
    emit({"id": account.id, "username": account.username, "active": False}, as_json,
         f"account {account.username} deactivated")


@users.command("totp")
@click.argument("username")
@click.option("--remove", is_flag=True, help="Wipe the second factor (code app, recovery codes, passkeys) instead.")
@json_option
def users_totp(username, remove, as_json):
    """Enrol (or re-enrol) TOTP: a new secret, shown once, replaces any earlier one; logins then ask for a code.
    With --remove: the account's second factors are wiped and its sessions end (audited mfa_reset); the person
    sets up a new one at their next login."""
    from idp.totp import TotpService

    c = container()
    if remove:
        from idp.mfa_policy import MfaPolicy

        account_id, removed = MfaPolicy(c.db, c.settings.mfa_roles).reset_by_operator(username)
        if removed:
            c.sessions.end_all(account_id, tell=True)
        emit({"username": username, "removed": removed}, as_json,
             f"{username}: " + (f"removed {', '.join(removed)}; sessions ended" if removed else "no second factor"))
        return
    enrolment = TotpService(c.db, c.vault, c.audit).enrol(username)
    emit({"secret": enrolment.secret, "otpauth_uri": enrolment.otpauth_uri}, as_json,
         f"secret {enrolment.secret} (shown once)\n{enrolment.otpauth_uri}")


@users.command("operator")
@click.argument("username")
@click.option("--remove", is_flag=True, help="No longer an operator.")
@json_option
def users_operator(username, remove, as_json):
    """An operator of leerID decides on vendors' policy requests at /operator."""
    account = container().accounts.set_operator(username, not remove)
    emit({"id": account.id, "username": account.username, "operator": account.operator}, as_json,
         f"{account.username} is {'an' if account.operator else 'no longer an'} operator")


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
@click.option("--for", "audience", type=click.Choice(["pupils", "parents", "both"]), default="pupils",
              show_default=True, help="A letter for the person, for their parents, or both (the same code).")
@json_option
def users_letters(school, class_name, everyone, output, audience, as_json):
    """First-login letters: a one-time activation code (14 days) per person, as a printable page."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    c = container()
    letters = c.activation.issue_letters(school, class_name, everyone=everyone)
    environment = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                              autoescape=select_autoescape())
    school_row = next(s for s in c.accounts.schools() if s.number == school)
    html = environment.get_template("letters.html").render(
        letters=letters, school=school_row, class_name=class_name, audience=audience,
        activation_url=f"{c.settings.issuer}/activeren")
    output.write_text(html, encoding="utf-8")
    emit({"letters": len(letters), "file": str(output)}, as_json, f"{len(letters)} letters written to {output}")


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


@import_.command("reviews")
@click.option("--school", help="Only this school's rows.")
@json_option
def import_reviews(school, as_json):
    """Roster rows held back because several leerIDs could be that person."""
    from idp.roster_import import RosterImporter

    found = RosterImporter(container().db).open_reviews(school)
    lines = []
    for review in found:
        row = review["row"]
        lines.append(f"review {review['id']}: school {review['school']}, external id {review['external_id']}: "
                     f"{row['given_name']} {row['family_name']} ({row['birthdate']}) could be:")
        lines += [f"  {c['username']}  {c['name']}  schools: {', '.join(c['schools']) or '-'}"
                  for c in review["candidates"]]
    emit({"reviews": found}, as_json, "\n".join(lines) or "nothing to review")


@import_.command("resolve")
@click.argument("review_id", type=int)
@click.option("--username", help="The existing leerID this row is (one of the review's candidates).")
@click.option("--new", "is_new", is_flag=True, help="The row is someone new: give them a leerID of their own.")
@json_option
def import_resolve(review_id, username, is_new, as_json):
    """Settle a held-back roster row: it is an existing leerID (--username) or a new person (--new)."""
    from idp.roster_import import RosterImporter

    if bool(username) == is_new:
        raise click.UsageError("give either --username U or --new")
    review = RosterImporter(container().db).resolve_review(review_id, None if is_new else username)
    emit({"id": review.id, "account_id": review.account_id, "new": is_new}, as_json,
         f"review {review.id} resolved")


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
