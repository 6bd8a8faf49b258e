"""Domain exceptions of the provider; each names the fact."""


class LeerIDError(Exception):
    """Base of leerID's domain errors; the message is one line, safe to show an operator."""


class NotFound(LeerIDError):
    pass


class InvalidInput(LeerIDError):
    pass


class Duplicate(LeerIDError):
    pass


class InvalidCredentials(LeerIDError):
    """Unknown user or wrong password: the two are never told apart."""


class Throttled(LeerIDError):
    """Too many failures; refused even with the right secret for `retry_after` seconds. `reason`: "delay" (after a
    few failures each next attempt waits longer), "source" (too many failures from this network), "lock" (Locked);
    `kind` the secret that was refused ("pwd", "otp", "recovery", ...)."""

    def __init__(self, retry_after: int, reason: str = "delay", kind: str = "pwd"):
        super().__init__(f"too many attempts, retry after {retry_after} s")
        self.retry_after = retry_after
        self.reason = reason
        self.kind = kind


class Locked(Throttled):
    """After repeated failures the account is locked for attempts without its device cookie (or, with `device`,
    for all the browsers that hold it, which share one count), for `retry_after` seconds; an unknown name is locked
    alike."""

    def __init__(self, retry_after: int, kind: str = "pwd", device: bool = False):
        super().__init__(retry_after, "lock", kind)
        self.device = device


class StoreUnavailable(LeerIDError):
    """Redis or the database cannot be reached: fail closed."""
