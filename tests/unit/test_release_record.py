"""record_release (idp/grants.py): a release by an access token is recorded once per endpoint and set of attributes,
and a record that could not be written is written at the platform's next call."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
from sqlalchemy.exc import OperationalError

from idp.ephemeral import RedisStore, connect
from idp.grants import record_release


class Audit:
    """The audit log, down for the first `failures` writes."""

    def __init__(self, failures: int = 0):
        self.records, self.failures = [], failures

    def record(self, event, **fields):
        if self.failures:
            self.failures -= 1
            raise OperationalError("INSERT", {}, Exception("the database went away"))
        self.records.append(fields["detail"]["claims"])


@pytest.fixture(scope="module")
def redis(tmp_path_factory):
    client = connect(None, tmp_path_factory.mktemp("redis") / "var")
    yield client
    client.shutdown(nosave=True)


def container(redis, audit: Audit):
    redis.flushall()
    return SimpleNamespace(store=RedisStore(redis), audit=audit, settings=SimpleNamespace(access_token_ttl=300))


CLIENT = SimpleNamespace(client_id="platform", basis="consent", policy_version=1)


def release(c, claims: dict, token: str = "jti-1", via: str = "userinfo"):
    record_release(c, "anna", CLIENT, claims, via, "openid profile", token_id=token)


def test_once_per_token_endpoint_and_attributes(redis):
    c = container(redis, audit := Audit())
    for _ in range(3):
        release(c, {"given_name": "Anna"})
    release(c, {"given_name": "Anna"}, via="introspection")
    release(c, {"given_name": "Anna"}, token="jti-2")
    release(c, {"given_name": "Anna", "family_name": "Peeters"})  # consent given since: more, so recorded again
    assert audit.records == [["given_name"]] * 3 + [["family_name", "given_name"]]


def test_a_release_whose_record_failed_is_recorded_at_the_next_call(redis):
    c = container(redis, audit := Audit(failures=1))
    with pytest.raises(OperationalError):  # 503: the claims were not sent
        release(c, {"given_name": "Anna"})
    release(c, {"given_name": "Anna"})  # the platform asks again: the claims go out, and are recorded
    assert audit.records == [["given_name"]]
