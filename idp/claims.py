"""Which attributes a client receives as claims; one function serves ID token, userinfo and introspection."""
from __future__ import annotations

from authlib.oauth2.rfc6749 import scope_to_list

from idp.accounts import Account

# What each scope asks for (OIDC Core §5.4); a client receives only what its release policy also lists.
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


def release(account: Account, scope: str, policy: list[str]) -> dict:
    """Released = the client's policy ∩ what the scope asks for, leaving out what the account lacks."""
    values = attribute_values(account)
    asked = {name for s in scope_to_list(scope or "") or [] for name in SCOPE_CLAIMS.get(s, ())}
    return {name: values[name] for name in policy if name in asked and values.get(name) is not None}
