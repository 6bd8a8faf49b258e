"""Which attributes a client receives as claims; one function serves ID token, userinfo and introspection."""
from __future__ import annotations

from authlib.oauth2.rfc6749 import scope_to_list

from idp.accounts import Account

# Until release policies exist, a scope names what it releases (OIDC Core §5.4), minus birthdate.
SCOPE_CLAIMS = {
    "profile": ("given_name", "family_name", "name", "preferred_username"),
    "email": ("email",),
}


def attribute_values(account: Account) -> dict:
    return {
        "given_name": account.given_name,
        "family_name": account.family_name,
        "name": account.name,
        "preferred_username": account.username,
        "email": account.email,
    }


def release(account: Account, scope: str) -> dict:
    """The attribute claims that `scope` releases, leaving out what the account lacks."""
    values = attribute_values(account)
    names = [name for s in scope_to_list(scope or "") or [] for name in SCOPE_CLAIMS.get(s, ())]
    return {name: values[name] for name in names if values.get(name) is not None}
