"""The `leerid` command line against a real database (DESIGN.md Command line): --json output, and for bad input a
non-zero exit, exactly one line on stderr, and nothing written (row counts before and after)."""
from __future__ import annotations

import json
import secrets

import pytest


def unique(prefix: str) -> str:
    return f"{prefix}{secrets.token_hex(4)}"


def user_args(username: str, **extra: str) -> list[str]:
    args = ["users", "create", "--username", username, "--password", "Pw-correct-123", "--given-name", "Lotte",
            "--family-name", "Peeters", "--role", "pupil"]
    for key, value in extra.items():
        args += [f"--{key.replace('_', '-')}", value]
    return args


def assert_refused(leerid, *args: str) -> str:
    """Run a command that must be refused: non-zero exit, one stderr line, no stdout, no rows written."""
    before = leerid.counts()
    proc = leerid.run(*args, check=False)
    after = leerid.counts()
    assert proc.returncode != 0, f"accepted: leerid {' '.join(args)}"
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {proc.stderr!r}"
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""
    assert after == before, {k: (before.get(k), after.get(k)) for k in after if before.get(k) != after.get(k)}
    return lines[0]


def assert_refused_as_json(leerid, *args: str) -> None:
    """The same with --json: still nothing but one line on stderr (no half-printed JSON)."""
    assert_refused(leerid, *args, "--json")


# --- what works ------------------------------------------------------------------------------------------------------


def test_school_user_and_client_with_json(leerid):
    number = str(secrets.randbelow(9_000_000) + 1_000_000)
    school = leerid.cli("schools", "create", "--number", number, "--name", "Sint-Jan")
    assert school["number"] == number
    user = leerid.cli(*user_args(unique("lotte"), school=number, email="lotte@school.example"))
    assert user["id"] and user["username"].startswith("lotte")
    client = leerid.cli("clients", "create", "--name", "Leerplatform", "--redirect-uri", "https://rp.example/cb")
    assert client["client_id"] and client["client_secret"]
    public = leerid.cli("clients", "create", "--name", "App", "--redirect-uri", "http://127.0.0.1/cb", "--public")
    assert public["client_secret"] is None


def test_json_option_may_come_anywhere_after_the_command(leerid):
    proc = leerid.run("schools", "create", "--json", "--number", str(secrets.randbelow(10**7)), "--name", "X")
    assert proc.returncode == 0
    assert json.loads(proc.stdout)["name"] == "X"


def test_json_output_is_one_object_and_nothing_else(leerid):
    proc = leerid.run("clients", "create", "--name", "P", "--redirect-uri", "https://rp.example/cb", "--json")
    assert len(proc.stdout.strip().splitlines()) == 1
    assert isinstance(json.loads(proc.stdout), dict)


def test_rows_are_written_once(leerid):
    before = leerid.counts()
    leerid.cli(*user_args(unique("piet")))
    after = leerid.counts()
    assert after["accounts"] == before["accounts"] + 1
    assert after["memberships"] == before["memberships"]


# --- bad input: non-zero, one line, nothing written ------------------------------------------------------------------


def test_unknown_role(leerid):
    line = assert_refused(leerid, *user_args(unique("u"))[:-2], "--role", "principal")
    assert "role" in line


def test_malformed_redirect_uri(leerid):
    for uri in ("not a uri", "http://rp.example/cb", "https://rp.example/cb#frag", "/relative"):
        assert_refused(leerid, "clients", "create", "--name", "P", "--redirect-uri", uri)


def test_one_malformed_redirect_uri_among_good_ones_writes_nothing(leerid):
    assert_refused(leerid, "clients", "create", "--name", "P", "--redirect-uri", "https://rp.example/cb",
                   "--redirect-uri", "javascript:alert(1)")


def test_duplicate_username(leerid):
    username = unique("dup")
    leerid.cli(*user_args(username))
    line = assert_refused(leerid, *user_args(username))
    assert username in line


def test_duplicate_username_differing_in_case(leerid):
    username = unique("case")
    leerid.cli(*user_args(username))
    assert_refused(leerid, *user_args(username.upper()))


def test_unknown_school(leerid):
    line = assert_refused(leerid, *user_args(unique("u"), school="99999999"))
    assert "99999999" in line


def test_unknown_school_writes_no_account_either(leerid):
    username = unique("orphan")
    assert_refused(leerid, *user_args(username, school="88888888"))
    proc = leerid.run(*user_args(username), check=False)
    assert proc.returncode == 0, "the username was not taken by the refused command"


def test_provisioning_client_for_a_school(leerid):
    number = str(secrets.randbelow(9_000_000) + 1_000_000)
    leerid.cli("schools", "create", "--number", number, "--name", "Sint-Jan")
    client = leerid.cli("schools", "provisioning-client", "--school", number)
    assert set(client) == {"client_id", "client_secret"} and client["client_secret"]
    assert client["client_id"] != leerid.cli("schools", "provisioning-client", "--school", number)["client_id"]


def test_provisioning_client_for_an_unknown_school(leerid):
    assert "77777777" in assert_refused(leerid, "schools", "provisioning-client", "--school", "77777777")


def test_resolving_an_unknown_review(leerid):
    assert_refused(leerid, "import", "resolve", "999999", "--new")
    assert_refused(leerid, "import", "resolve", "1")  # neither --username nor --new


def test_duplicate_school(leerid):
    number = str(secrets.randbelow(10**7))
    leerid.cli("schools", "create", "--number", number, "--name", "A")
    assert_refused(leerid, "schools", "create", "--number", number, "--name", "B")


@pytest.mark.parametrize("extra", [
    {"password": "short"},
    {"email": "not-an-email"},
    {"birthdate": "2999-01-01"},
    {"birthdate": "01/02/2010"},
    {"class": "3A"},
    {"school_admin": None},
], ids=["short-password", "bad-email", "future-birthdate", "bad-date", "class-without-school",
        "admin-without-school"])
def test_other_bad_user_input(leerid, extra):
    args = user_args(unique("u"))
    for key, value in extra.items():
        flag = f"--{key.replace('_', '-')}"
        if key == "password":
            args[args.index("--password") + 1] = value
        else:
            args += [flag] if value is None else [flag, value]
    assert_refused(leerid, *args)


@pytest.mark.parametrize("username", ["ab", "Has Space", "-dash", "a" * 80, "ünï"])
def test_bad_usernames(leerid, username):
    assert_refused(leerid, *user_args(username))


@pytest.mark.parametrize("args", [
    ["--scope", "admin"],
    ["--attribute", "national_number"],
    ["--basis", "maybe"],
    ["--subject-type", "global"],
    ["--id-token-alg", "none"],
    ["--id-token-alg", "HS256"],
    ["--token-auth-method", "private_key_jwt"],
    ["--public", "--token-auth-method", "client_secret_post"],
    ["--post-logout-redirect-uri", "http://rp.example/bye"],
    ["--jwks", "/nonexistent/jwks.json", "--token-auth-method", "private_key_jwt"],
], ids=lambda a: " ".join(a))
def test_bad_client_input(leerid, args):
    assert_refused(leerid, "clients", "create", "--name", "P", "--redirect-uri", "https://rp.example/cb", *args)


def test_missing_required_option(leerid):
    assert_refused(leerid, "clients", "create", "--name", "P")


def test_unknown_command(leerid):
    assert_refused(leerid, "schools", "destroy")


def test_refusals_with_json_are_still_one_stderr_line(leerid):
    assert_refused_as_json(leerid, *user_args(unique("u"), school="77777777"))
    assert_refused_as_json(leerid, "clients", "create", "--name", "P", "--redirect-uri", "ftp://x")


# --- the schema -------------------------------------------------------------------------------------------------------


def test_db_upgrade_twice_is_idempotent(blank):
    first = blank.cli("db", "upgrade")
    counts = blank.counts()
    assert counts["signing_keys"] >= 2, "a first key per algorithm"
    assert counts["instance_secrets"] == 1
    second = blank.cli("db", "upgrade")
    assert second["revision"] == first["revision"] and first["revision"]
    assert blank.counts() == counts, "nothing new the second time"


def test_commands_on_a_database_without_schema_say_so_in_one_line(blank):
    proc = blank.run("schools", "create", "--number", "1", "--name", "X", check=False)
    assert proc.returncode != 0
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
