"""config.settings: defaults, *_FILE secrets, and what production refuses (DESIGN.md Settings; STYLE.md Config)."""
from __future__ import annotations

from pathlib import Path

import pytest

from config.settings import ConfigError, Settings

GOOD_SECRET = "s" * 40


def production(**extra) -> dict:
    env = {"LEERID_ENV": "production", "LEERID_ISSUER": "https://leerid.example", "LEERID_SECRET_KEY": GOOD_SECRET}
    env.update(extra)
    return {k: v for k, v in env.items() if v is not None}


def refused(env: dict) -> str:
    with pytest.raises(ConfigError) as error:
        Settings.from_env(env)
    message = str(error.value)
    assert message and "\n" not in message, "one line for the operator"
    return message


# --- defaults ----------------------------------------------------------------------------------------------------


def test_defaults_from_an_empty_environment():
    settings = Settings.from_env({})
    assert settings.issuer == "http://127.0.0.1:5000"
    assert settings.database_url == "sqlite:///var/leerid.db"
    assert settings.redis_url is None, "unset: the embedded Redis"
    assert settings.secret_keys == ()
    assert settings.env == "development"
    assert not settings.production
    assert settings.var_dir == Path("var")
    assert settings.code_ttl == 60
    assert settings.interaction_ttl == 600
    assert settings.session_ttl == 8 * 3600
    assert settings.login_max_failures == 5


def test_from_env_reads_only_the_given_mapping(monkeypatch):
    monkeypatch.setenv("LEERID_ISSUER", "https://from-process.example")
    assert Settings.from_env({}).issuer == "http://127.0.0.1:5000"


def test_from_env_without_a_mapping_reads_the_process_environment(monkeypatch):
    monkeypatch.setenv("LEERID_ISSUER", "https://from-process.example")
    assert Settings.from_env().issuer == "https://from-process.example"


def test_issuer_trailing_slash_is_dropped():
    assert Settings.from_env({"LEERID_ISSUER": "https://leerid.example/"}).issuer == "https://leerid.example"


def test_database_url_follows_the_var_dir(tmp_path):
    settings = Settings.from_env({"LEERID_VAR_DIR": str(tmp_path)})
    assert settings.var_dir == tmp_path
    assert settings.database_url == f"sqlite:///{tmp_path}/leerid.db"


def test_secret_keys_are_a_list_first_signs():
    settings = Settings.from_env({"LEERID_SECRET_KEY": " new-key , old-key ,"})
    assert settings.secret_keys == ("new-key", "old-key")


def test_whole_numbers(tmp_path):
    assert Settings.from_env({"LEERID_ACCESS_TOKEN_TTL": "120"}).access_token_ttl == 120
    assert Settings.from_env({"LEERID_ACCESS_TOKEN_TTL": ""}).access_token_ttl == 300
    assert "LEERID_ACCESS_TOKEN_TTL" in refused({"LEERID_ACCESS_TOKEN_TTL": "five minutes"})


def test_secure_cookies_follow_the_issuer_scheme():
    assert Settings.from_env({"LEERID_ISSUER": "https://leerid.example"}).secure_cookies
    assert not Settings.from_env({"LEERID_ISSUER": "http://127.0.0.1:5000"}).secure_cookies


@pytest.mark.parametrize("issuer", ["ftp://leerid.example", "leerid.example", "https://leerid.example/?x=1",
                                    "https://leerid.example/#frag", "https://"])
def test_malformed_issuer_is_refused(issuer):
    assert "LEERID_ISSUER" in refused({"LEERID_ISSUER": issuer})


def test_unknown_environment_name_is_refused():
    assert "LEERID_ENV" in refused({"LEERID_ENV": "staging"})


def test_settings_are_frozen():
    settings = Settings.from_env({})
    with pytest.raises(AttributeError):
        settings.issuer = "https://elsewhere.example"


# --- *_FILE secrets (Docker secrets) -----------------------------------------------------------------------------


def test_secret_from_a_file(tmp_path):
    secret = tmp_path / "secret_key"
    secret.write_text(GOOD_SECRET + "\n")
    settings = Settings.from_env(production(LEERID_SECRET_KEY=None, LEERID_SECRET_KEY_FILE=str(secret)))
    assert settings.secret_keys == (GOOD_SECRET,)


def test_database_and_redis_urls_from_files(tmp_path):
    (tmp_path / "db").write_text("postgresql://leerid:pw@db/leerid\n")
    (tmp_path / "redis").write_text("redis://redis:6379/0")
    settings = Settings.from_env({"LEERID_DATABASE_URL_FILE": str(tmp_path / "db"),
                                  "LEERID_REDIS_URL_FILE": str(tmp_path / "redis")})
    assert settings.database_url == "postgresql://leerid:pw@db/leerid"
    assert settings.redis_url == "redis://redis:6379/0"


def test_the_variable_itself_wins_over_its_file(tmp_path):
    (tmp_path / "secret").write_text("from-file-" + GOOD_SECRET)
    settings = Settings.from_env({"LEERID_SECRET_KEY": "from-env", "LEERID_SECRET_KEY_FILE": str(tmp_path / "secret")})
    assert settings.secret_keys == ("from-env",)


def test_unreadable_secret_file_is_a_one_line_error(tmp_path):
    message = refused({"LEERID_SECRET_KEY_FILE": str(tmp_path / "missing")})
    assert "LEERID_SECRET_KEY_FILE" in message


def test_empty_secret_file_counts_as_missing(tmp_path):
    empty = tmp_path / "empty"
    empty.write_text("\n")
    assert "LEERID_SECRET_KEY" in refused(production(LEERID_SECRET_KEY=None, LEERID_SECRET_KEY_FILE=str(empty)))


# --- production refuses the development defaults -----------------------------------------------------------------


def test_production_with_https_and_a_secret_is_accepted():
    settings = Settings.from_env(production())
    assert settings.production
    assert settings.secure_cookies


def test_production_refuses_a_missing_secret():
    assert "LEERID_SECRET_KEY" in refused(production(LEERID_SECRET_KEY=None))


def test_production_refuses_an_http_issuer():
    assert "https" in refused(production(LEERID_ISSUER="http://leerid.example"))


def test_production_refuses_the_default_issuer():
    env = production()
    del env["LEERID_ISSUER"]
    refused(env)


def test_production_refuses_a_short_secret():
    assert "32" in refused(production(LEERID_SECRET_KEY="short"))


def test_production_refuses_a_short_old_secret_too():
    refused(production(LEERID_SECRET_KEY=f"{GOOD_SECRET},short"))


def test_production_never_generates_a_secret(tmp_path):
    with pytest.raises(ConfigError):
        Settings.from_env(production(LEERID_SECRET_KEY=None, LEERID_VAR_DIR=str(tmp_path)))
    assert not (tmp_path / "secret_key").exists()


# --- the development secret ----------------------------------------------------------------------------------------


def test_development_secret_is_generated_once_and_kept(tmp_path):
    settings = Settings.from_env({"LEERID_VAR_DIR": str(tmp_path / "var")})
    first = settings.with_secret()
    again = Settings.from_env({"LEERID_VAR_DIR": str(tmp_path / "var")}).with_secret()
    assert first.secret_keys and first.secret_keys == again.secret_keys
    assert len(first.secret_keys[0]) >= 32
    assert (tmp_path / "var" / "secret_key").stat().st_mode & 0o077 == 0, "readable by its owner only"


def test_a_given_secret_is_used_as_is(tmp_path):
    settings = Settings.from_env({"LEERID_SECRET_KEY": GOOD_SECRET, "LEERID_VAR_DIR": str(tmp_path)})
    assert settings.with_secret().secret_keys == (GOOD_SECRET,)
    assert not (tmp_path / "secret_key").exists()
