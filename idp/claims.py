"""Which attributes a client receives as claims; one function serves ID token, userinfo and introspection."""
from __future__ import annotations

from datetime import date

from authlib.oauth2.rfc6749 import scope_to_list

from idp.accounts import Account, Person

# What each scope asks for (OIDC Core §5.4, and leerID's own); a client receives only what its release
# policy also lists.
SCOPE_CLAIMS = {
    "profile": ("given_name", "family_name", "name", "preferred_username"),
    "email": ("email",),
    "school": ("school", "schools", "class", "roles"),
    "age": ("age_band",),
    "birthdate": ("birthdate",),
}
ATTRIBUTES = frozenset(name for names in SCOPE_CLAIMS.values() for name in names)
TARGETS = ("id_token", "userinfo", "introspection")


def age_band(birthdate: date | None, today: date) -> str | None:
    if birthdate is None:
        return None
    age = today.year - birthdate.year - ((today.month, today.day) < (birthdate.month, birthdate.day))
    return "under_13" if age < 13 else "13_to_17" if age < 18 else "adult"


def attribute_values(account: Account | Person, today: date | None = None) -> dict:
    """Every attribute of the person as DESIGN.md names it, from the account and its current memberships."""
    today = today or date.today()
    person = account if isinstance(account, Person) else Person.of(account, today)
    schools = list({school["number"]: school for _, school, _ in person.places}.values())
    return {
        "given_name": person.given_name,
        "family_name": person.family_name,
        "name": person.name,
        "preferred_username": person.username,
        "email": person.email,
        "birthdate": person.birthdate.isoformat() if person.birthdate else None,
        "age_band": age_band(person.birthdate, today),
        "roles": sorted({person.role} | {role for role, _, _ in person.places}),
        "school": schools[0] if schools else None,
        "schools": schools or None,
        "class": next((in_class for _, _, in_class in person.places if in_class is not None), None),
    }


def scope_claims(scope: str) -> set[str]:
    """What the scope asks for (OIDC Core §5.4)."""
    return {name for s in scope_to_list(scope or "") or [] for name in SCOPE_CLAIMS.get(s, ())}


def requested(claims: dict | None, member: str) -> set[str]:
    """The attributes one member ("id_token" or "userinfo") of the `claims` parameter names (OIDC Core §5.5);
    names that are no attribute of leerID's are left out."""
    asked = (claims or {}).get(member)
    return {name for name in asked if name in ATTRIBUTES} if isinstance(asked, dict) else set()


def asked_for(scope: str, claims: dict | None = None) -> set[str]:
    """What a request asks for, for any target: by scope, and by name in either member of `claims`."""
    return scope_claims(scope) | requested(claims, "id_token") | requested(claims, "userinfo")


def releasable(policy: list[str], scope: str, claims: dict | None = None) -> list[str]:
    """The attributes a request would receive: the policy's, as far as asked for (what a person consents to)."""
    asked = asked_for(scope, claims)
    return [name for name in policy if name in asked]


def release(account: Account | Person, scope: str, policy: list[str], claims: dict | None = None,
            consented: list[str] | None = None, *, target: str) -> dict:
    """The claims `target` (the ID token, userinfo or introspection) carries about the person.

    Released = the client's policy ∩ what is asked for that target ∩ what the person consented to (`consented`
    None: the platform's basis is a school agreement), leaving out what the account lacks. Asked for:
    - the scope's claims (§5.4), for every target: userinfo, the ID token too (relying parties here expect them
      there), and introspection, which gets nothing else;
    - the members of `claims.id_token` for the ID token only, of `claims.userinfo` for userinfo only (§5.5).
    `essential` changes nothing: it never overrides the policy or the consent. `value` and `values` (§5.5.1)
    are ignored for these attribute claims: such a member is a plain request, released with the person's own
    value if at all. (`sub` is no attribute; a request for its value is the authorization endpoint's matter.)
    """
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}")
    asked = scope_claims(scope) | (requested(claims, target) if target != "introspection" else set())
    values = attribute_values(account)
    names = [n for n in policy if n in asked and (consented is None or n in consented)]
    return {name: values[name] for name in names if values.get(name) is not None}
