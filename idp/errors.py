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
    """Too many failures; refused even with the right secret until the window passes."""

    def __init__(self, retry_after: int):
        super().__init__(f"too many attempts, retry after {retry_after} s")
        self.retry_after = retry_after


class StoreUnavailable(LeerIDError):
    """Redis or the database cannot be reached: fail closed."""
