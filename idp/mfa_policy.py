"""The second-factor policy (issue 6, items 2 and 3): who must have a second factor, and wiping one.

A person with a current membership in one of LEERID_MFA_ROLES (teachers and staff by default; school administrators
are staff or teachers) needs a second factor for every login. Wiping someone's second factors (their code app, its
recovery codes and their passkeys) is what a school administrator with a `manage-account` mandate or the operator
does for a person who lost their phone; the person then sets up a new one at their next login, where a notice
says who wiped it and when. The notice needs no state of its own: it reads the audit log.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from idp import audit
from idp.accounts import Account, AccountRepository
from idp.audit import AuditEvent
from idp.db import Database
from idp.directory import Membership
from idp.errors import NotFound
from idp.school_scope import current_on
from idp.totp import RecoveryCode, TotpCredential

RESET = "mfa_reset"
ENROLLED = "mfa_enrolled"
BRUSSELS = ZoneInfo("Europe/Brussels")


@dataclass(frozen=True)
class ResetNotice:
    """The person's second factor was wiped, and they have not set up a new one since."""

    by: str | None  # the school administrator's name; None: leerID's helpdesk (the operator)
    on: date  # the day, in Brussels
    logins_since: int  # logins after the wipe, this one included


def _passkey_model():
    """The passkeys table's model, when this leerID has passkeys (idp/passkeys.py)."""
    try:
        from idp.passkeys import Passkey
    except ImportError:  # pragma: no cover - a leerID without passkeys
        return None
    return Passkey


def second_factor_rows(session: Session, account_id: str) -> list[str]:
    """The kinds of second factor the account has, as amr values: "otp" (a code app), "hwk" (a passkey)."""
    found = ["otp"] if session.get(TotpCredential, account_id) is not None else []
    passkey = _passkey_model()
    if passkey is not None and session.scalar(select(passkey.id).where(passkey.account_id == account_id).limit(1)):
        found.append("hwk")
    return found


def forget_second_factors(session: Session, account_id: str) -> list[str]:
    """Delete the account's code app, recovery codes and passkeys in the caller's transaction; what it had."""
    had = second_factor_rows(session, account_id)
    session.execute(delete(TotpCredential).where(TotpCredential.account_id == account_id))
    session.execute(delete(RecoveryCode).where(RecoveryCode.account_id == account_id))
    passkey = _passkey_model()
    if passkey is not None:
        session.execute(delete(passkey).where(passkey.account_id == account_id))
    return had


class MfaPolicy:
    def __init__(self, db: Database, roles: tuple[str, ...], clock: Callable[[], date] = date.today):
        self.db = db
        self.roles = tuple(roles)
        self.clock = clock

    def required(self, account_id: str, roles: frozenset[str] | None = None) -> bool:
        """Whether the person has a current membership in a role that needs a second factor (`roles`: those of
        their current memberships, when the caller read them already)."""
        if not self.roles:
            return False
        if roles is not None:
            return bool(roles & set(self.roles))
        query = select(Membership.id).where(Membership.account_id == account_id, Membership.role.in_(self.roles),
                                            current_on(self.clock())).limit(1)
        with self.db.read() as session:
            return session.scalar(query) is not None

    def reset_notice(self, account_id: str) -> ResetNotice | None:
        """The latest wipe of the person's second factor, unless they set one up since."""
        latest = (select(AuditEvent).where(AuditEvent.subject_id == account_id,
                                           AuditEvent.event.in_((RESET, ENROLLED)))
                  .order_by(AuditEvent.seq.desc()).limit(1))
        with self.db.read() as session:
            event = session.scalar(latest)
            if event is None or event.event != RESET:
                return None
            actor = session.get(Account, event.actor_id) if event.actor_id else None
            logins = session.scalar(select(func.count()).select_from(AuditEvent).where(
                AuditEvent.subject_id == account_id, AuditEvent.event == "login", AuditEvent.seq > event.seq))
            return ResetNotice(actor.name if actor else None, event.at.astimezone(BRUSSELS).date(), logins or 0)

    def reset_by_operator(self, username: str) -> tuple[str, list[str]]:
        """The operator (`leerid users totp USERNAME --remove`) wipes the account's second factors, audited as
        `mfa_reset` with no actor: (the account id, what it had). The caller ends the person's sessions."""
        with self.db.transaction() as session:
            account = AccountRepository(session).find_by_username((username or "").strip().lower()[:64])
            if account is None:
                raise NotFound(f"no account {username}")
            removed = forget_second_factors(session, account.id)
            if removed:
                audit.record(session, RESET, subject_id=account.id, detail={"by": "operator", "removed": removed})
            return account.id, removed
