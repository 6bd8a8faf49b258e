"""Interactions: an authorization request parked while the person logs in or consents."""
from __future__ import annotations

from dataclasses import asdict, dataclass

from idp.crypto import constant_time_equal, random_token
from idp.ephemeral import RedisStore


@dataclass
class Interaction:
    uid: str
    params: dict
    binding: str  # the browser that started it (a value from its signed form cookie)
    step: str  # login | mfa | consent | parent | chooser
    logged_in: bool = False  # the person logged in afresh during this interaction
    account_chosen: bool = False  # prompt=select_account: the person chose the account already logged in
    consent: str | None = None  # allow | deny
    consent_account: str | None = None  # who decided: a decision counts only for that account
    return_to: str | None = None  # a login for one of leerID's own pages (never from request parameters)
    declined: list | None = None  # optional attributes the person unticked on the consent page
    act_as: str | None = None  # the chooser's answer: "self" or the username of someone the person acts for
    act_account: str | None = None  # who chose: a choice counts only for that account
    shown_version: int | None = None  # the policy version and the attributes the consent page showed
    shown: list | None = None
    second_factor_for: str | None = None  # mfa: the account whose password (or SSO session) was checked
    second_factor_amr: list | None = None  # mfa: how that account authenticated so far
    step_up: bool = False  # mfa: asked by acr_values over an existing SSO session of that account
    password_version: str | None = None  # enrol: the password's version when set-up began; changed: log in again

    def saw(self, client, asked) -> bool:
        """Whether the consent page showed this policy version and at least these attributes."""
        return self.shown_version == client.policy_version and set(asked) <= set(self.shown or ())


class InteractionStore:
    KIND = "interaction"

    def __init__(self, store: RedisStore, ttl: int):
        self.store = store
        self.ttl = ttl

    def start(self, params: dict, binding: str, step: str, return_to: str | None = None) -> Interaction:
        interaction = Interaction(uid=random_token(18), params=params, binding=binding, step=step,
                                  return_to=return_to)
        self.save(interaction)
        return interaction

    def save(self, interaction: Interaction) -> None:
        self.store.put(self.KIND, interaction.uid, asdict(interaction), self.ttl)

    def load(self, uid: str, binding: str | None) -> Interaction | None:
        """The interaction, only for the browser that started it."""
        if not uid or len(uid) > 64 or not binding:
            return None
        data = self.store.get(self.KIND, uid)
        if data is None or not constant_time_equal(data["binding"], binding):
            return None
        return Interaction(**data)

    def rebind(self, interaction: Interaction, binding: str) -> None:
        """Bind to the browser's new form cookie after login (the session identifier changes)."""
        interaction.binding = binding
        self.save(interaction)

    def finish(self, interaction: Interaction) -> None:
        self.store.delete(self.KIND, interaction.uid)
