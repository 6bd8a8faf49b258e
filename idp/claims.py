"""Which attributes a client receives as claims; one function serves ID token, userinfo and introspection."""
from __future__ import annotations

from datetime import date

from authlib.oauth2.rfc6749 import scope_to_list

from idp.accounts import Account

# What each scope asks for (OIDC Core §5.4, and leerID's own); a client receives only what its release
# policy also lists.
SCOPE_CLAIMS = {
    "profile": ("given_name", "family_name", "name", "preferred_username"),
    "email": ("email",),
    "school": ("school", "schools", "class", "roles"),
    "age": ("age_band",),
    "birthdate": ("birthdate",),
}


def age_band(birthdate: date | None, today: date) -> str | None:
    if birthdate is None:
        return None
    age = today.year - birthdate.year - ((today.month, today.day) < (birthdate.month, birthdate.day))
    return "under_13" if age < 13 else "13_to_17" if age < 18 else "adult"


def attribute_values(account: Account, today: date | None = None) -> dict:
    """Every attribute of the person as DESIGN.md names it, from the account and its current memberships."""
    today = today or date.today()
    current = [m for m in account.memberships if m.current(today)]
    schools = list({m.school.number: m.school for m in current}.values())
    in_class = next((m.school_class for m in current if m.school_class is not None), None)
    return {
        "given_name": account.given_name,
        "family_name": account.family_name,
        "name": account.name,
        "preferred_username": account.username,
        "email": account.email,
        "birthdate": account.birthdate.isoformat() if account.birthdate else None,
        "age_band": age_band(account.birthdate, today),
        "roles": sorted({account.role} | {m.role for m in current}),
        "school": schools[0].as_claim() if schools else None,
        "schools": [s.as_claim() for s in schools] or None,
        "class": in_class.as_claim() if in_class else None,
    }


def asked_for(scope: str, claims: dict | None = None) -> set[str]:
    """What a request asks for: by scope, and by name in the `claims` parameter (OIDC Core §5.5)."""
    asked = {name for s in scope_to_list(scope or "") or [] for name in SCOPE_CLAIMS.get(s, ())}
    for member in ("id_token", "userinfo"):
        asked.update((claims or {}).get(member) or {})
    return asked


def releasable(policy: list[str], scope: str, claims: dict | None = None) -> list[str]:
    """The attributes a request would receive: the policy's, as far as asked for (what a person consents to)."""
    asked = asked_for(scope, claims)
    return [name for name in policy if name in asked]


def release(account: Account, scope: str, policy: list[str], claims: dict | None = None,
            consented: list[str] | None = None) -> dict:
    """Released = the client's policy ∩ what the scope (and `claims` parameter) asks for ∩ what the person
    consented to (None: the platform's basis is a school agreement), leaving out what the account lacks."""
    values = attribute_values(account)
    names = [n for n in releasable(policy, scope, claims) if consented is None or n in consented]
    return {name: values[name] for name in names if values.get(name) is not None}
