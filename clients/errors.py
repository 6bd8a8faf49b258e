"""Domain exceptions of the client registry."""
from idp.errors import InvalidInput


class InvalidClientMetadata(InvalidInput):
    """Client metadata that leerID refuses (RFC 7591 §3.2.2 invalid_client_metadata)."""


class InvalidRedirectUri(InvalidClientMetadata):
    pass
