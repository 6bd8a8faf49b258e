"""The `leerid` command line (DESIGN.md: Command line)."""
from __future__ import annotations

import functools
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
    """The services for the settings in the environment; one set per settings in a process."""
    return _container(Settings.from_env())


@functools.cache
def _container(settings: Settings):
    from idp.wiring import Container

    return Container(settings)


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
    configure_logging(settings.log_level, settings.log_format)
    app = create_app(settings)
    from idp.cli_worker import in_background

    in_background(app.extensions["leerid"])  # back-channel logouts go out with nothing else to start
    app.extensions["leerid"].follow_changes()  # platforms changed by another process are forgotten at once
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
@click.option("--allow-weak-password", is_flag=True,
              help="Accept a password that breaks the password rules (tests and demos only).")
@json_option
def users_create(username, password, given_name, family_name, role, school, class_name, birthdate, email,
                 school_admin, allow_weak_password, as_json):
    from idp.accounts import NewAccount

    new = NewAccount(
        username=username, password=password, given_name=given_name, family_name=family_name, role=role,
        school=school, class_name=class_name, birthdate=parse_date(birthdate, "--birthdate"), email=email,
        school_admin=school_admin,
    )
    if not allow_weak_password:
        check_password(new)
    account = container().accounts.create_account(new)
    emit({"id": account.id, "username": account.username, "role": account.role}, as_json,
         f"account {account.username} ({account.role}) id {account.id}")


WEAK_PASSWORD = {  # idp/password_rules.py reason codes, for the operator
    "too_long": "it has more than {maximum} characters",
    "too_short": "it needs at least {minimum} characters for this role",
    "repeated": "it repeats one character or a short piece",
    "sequence": "it is a simple sequence (letters, digits or keys in a row)",
    "username": "it contains the username",
    "name": "it is the person's name",
    "birthdate": "it is the person's birth date",
    "common": "it is on the list of common and breached passwords",
}


def check_password(new) -> None:
    """The password rules, as for a password the person chooses; exit code 2 when it breaks one."""
    from idp.accounts import ROLES
    from idp.password_rules import MAX_LENGTH, PasswordRules, Person

    if new.role not in ROLES:  # create_account names the unknown role
        return
    roles = (new.role, "staff") if new.school_admin else (new.role,)
    verdict = PasswordRules.from_settings(container().settings).check(
        new.password, Person(new.username, new.given_name, new.family_name, new.birthdate, roles))
    if not verdict.acceptable:
        why = "; ".join(WEAK_PASSWORD[r].format(maximum=MAX_LENGTH, minimum=verdict.minimum) for r in verdict.reasons)
        raise click.ClickException(f"the password is too weak: {why}. Choose another (or --allow-weak-password)")


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
@click.option("--frontchannel-logout-uri", help="Shown in an iframe on leerID's logout page (OIDC Front-Channel "
                                                "Logout 1.0); the scheme, host and port of a redirect URI. Needs "
                                                "--backchannel-logout-uri.")
@click.option("--frontchannel-logout-session-required", "frontchannel_session", is_flag=True,
              help="That iframe gets the iss and sid query parameters.")
@click.option("--token-auth-method")
@click.option("--jwks-uri")
@click.option("--jwks", "jwks_file", type=click.Path(path_type=Path))
@click.option("--id-token-alg", default="ES256", show_default=True)
@click.option("--vendor", help="Who runs the platform, as people see it on the consent page.")
@click.option("--no-delegation", is_flag=True, help="No logins on someone's behalf: no chooser at this platform.")
@click.option("--token-exchange", is_flag=True, help="Its server may trade a person's access token for one on behalf "
                                                     "of someone they hold a mandate for (RFC 8693).")
@click.option("--require-mfa", is_flag=True, help="Every login there needs a second factor (as acr_values=mfa).")
@click.option("--policy", "policy_file", type=click.Path(path_type=Path, dir_okay=False),
              help="The release policy as JSON (instead of --attribute, --purpose and --basis).")
@click.option("--sector-identifier-uri", help="A JSON array of the vendor's redirect URIs (OIDC Core §8.1): its host "
                                              "is the sector, shared by the clients that name it.")
@json_option
def clients_create(name, redirect_uris, public, scopes, attributes, purpose, basis, subject_type, post_logout,
                   backchannel_logout_uri, token_auth_method, jwks_uri, jwks_file, id_token_alg, vendor, policy_file,
                   sector_identifier_uri, no_delegation, token_exchange, require_mfa, frontchannel_logout_uri,
                   frontchannel_session, as_json):
    from clients.service import NewClient
    from idp.cli_policies import read_policy

    registered = container().clients.create(NewClient(
        name=name, redirect_uris=redirect_uris, public=public, scopes=scopes or ("openid", "profile"),
        attributes=attributes, purpose=purpose, basis=basis, subject_type=subject_type,
        post_logout_redirect_uris=post_logout, backchannel_logout_uri=backchannel_logout_uri,
        token_auth_method=token_auth_method, jwks_uri=jwks_uri, jwks_file=jwks_file, id_token_alg=id_token_alg,
        vendor=vendor, policy=read_policy(policy_file) if policy_file else None, delegation=not no_delegation,
        sector_identifier_uri=sector_identifier_uri, token_exchange=token_exchange, require_mfa=require_mfa,
        frontchannel_logout_uri=frontchannel_logout_uri, frontchannel_logout_session_required=frontchannel_session,
    ))
    client = registered.client
    result = {"client_id": client.client_id, "client_secret": registered.client_secret, "name": client.name,
              "redirect_uris": client.redirect_uris, "token_endpoint_auth_method": client.token_endpoint_auth_method,
              "subject_type": client.subject_type, "grant_types": client.grant_types,
              "require_mfa": client.require_mfa, **frontchannel(client)}
    emit(result, as_json, f"client {client.client_id}" + (f" secret {registered.client_secret}"
                                                          if registered.client_secret else ""))


@clients.command("update")
@click.argument("client_id")
@click.option("--require-mfa/--no-require-mfa", "require_mfa", default=None,
              help="Every login there needs a second factor (as acr_values=urn:leerid:acr:mfa), or no longer.")
@click.option("--frontchannel-logout-uri", help="A new front-channel logout URI (needs a back-channel logout URI); "
                                                "\"\" removes it.")
@click.option("--frontchannel-logout-session-required/--no-frontchannel-logout-session-required",
              "frontchannel_session", default=None, help="Whether that iframe gets iss and sid.")
@click.option("--backchannel-logout-uri", help="A new back-channel logout URI; \"\" removes it (not while there is "
                                               "a front-channel logout URI).")
@json_option
def clients_update(client_id, require_mfa, frontchannel_logout_uri, frontchannel_session, backchannel_logout_uri,
                   as_json):
    """Change a platform's settings."""
    if require_mfa is None and frontchannel_logout_uri is None and frontchannel_session is None \
            and backchannel_logout_uri is None:
        raise click.UsageError("nothing to change: give --require-mfa, --no-require-mfa or a logout URI option")
    client = container().clients.update(client_id, require_mfa=require_mfa,
                                        frontchannel_logout_uri=frontchannel_logout_uri,
                                        frontchannel_logout_session_required=frontchannel_session,
                                        backchannel_logout_uri=backchannel_logout_uri)
    emit({"client_id": client.client_id, "require_mfa": client.require_mfa,
          "backchannel_logout_uri": client.backchannel_logout_uri, **frontchannel(client)}, as_json,
         f"platform {client.client_id}: second factor {'required' if client.require_mfa else 'not required'}; "
         f"front-channel logout {client.frontchannel_logout_uri or 'none'}")


def frontchannel(client) -> dict:
    return {"frontchannel_logout_uri": client.frontchannel_logout_uri,
            "frontchannel_logout_session_required": client.frontchannel_logout_session_required}


@clients.command("activate")
@click.argument("client_id")
@click.option("--school", "schools", multiple=True, required=True, help="The school's number (repeatable).")
@click.option("--agreement", help="The reference of the school's data-processing agreement with the vendor.")
@json_option
def clients_activate(client_id, schools, agreement, as_json):
    """The school takes the platform on: a school-agreement platform serves that school's people from now on."""
    done = container().clients.activate(client_id, list(schools), agreement)
    result = {"client_id": client_id, "schools": list(dict.fromkeys(s.strip() for s in schools)),
              "activations": [{"since": a.since.isoformat(), "agreement": a.agreement} for a in done]}
    emit(result, as_json, f"platform {client_id} activated for school(s) {', '.join(result['schools'])}")


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


@users.command("passkeys")
@click.argument("username")
@click.option("--remove", "remove_id", type=int, help="Remove the passkey with this id (from the list).")
@json_option
def users_passkeys(username, remove_id, as_json):
    """The person's passkeys (id, name, added, last used); --remove ID removes one, audited passkey_removed."""
    from idp.passkeys import PasskeyService

    c = container()
    service = PasskeyService(c.db, None, c.settings.issuer)  # listing and removing need no Redis
    account_id, username = service.account_of(username), username.strip().lower()
    if remove_id is not None:
        name = service.remove(account_id, remove_id)
        emit({"username": username, "removed": {"id": remove_id, "name": name}}, as_json,
             f"passkey {remove_id} ({name}) of {username} removed")
        return
    found = [{"id": p.id, "name": p.name, "created_at": p.created_at.isoformat(), "transports": list(p.transports),
              "last_used_at": p.last_used_at.isoformat() if p.last_used_at else None}
             for p in service.for_account(account_id)]
    emit({"username": username, "passkeys": found}, as_json, "\n".join(
        [f"{username}: {len(found)} passkey(s)"] + [f"  {p['id']}  {p['name']}  added {p['created_at'][:10]}, "
                                                    f"last used {(p['last_used_at'] or 'never')[:10]}" for p in found]))


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


from idp import (  # noqa: F401  (they add commands)
    cli_directory,
    cli_mandates,
    cli_policies,
    cli_secrets,
    cli_subjects,
    cli_worker,
)

