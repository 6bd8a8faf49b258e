"""Every SQL model, imported once so that the metadata (and Alembic) sees them all."""


def load_all() -> None:
    import clients.activations  # noqa: F401
    import clients.consents  # noqa: F401
    import clients.models  # noqa: F401
    import clients.policies  # noqa: F401
    import clients.subjects  # noqa: F401
    import idp.accounts  # noqa: F401
    import idp.activation  # noqa: F401
    import idp.audit  # noqa: F401
    import idp.badges  # noqa: F401
    import idp.directory  # noqa: F401
    import idp.keys  # noqa: F401
    import idp.passkeys  # noqa: F401
    import idp.tokens  # noqa: F401
    import idp.totp  # noqa: F401
    import mandates.links  # noqa: F401
    import mandates.store  # noqa: F401
