"""Keep credentials out of logs, outputs and files: redact MongoDB URIs and text that holds them."""

from __future__ import annotations

import re
from urllib.parse import quote

# The userinfo part of a mongodb:// or mongodb+srv:// URI (user or user:password, then '@').
_USERINFO = re.compile(r"(mongodb(?:\+srv)?://)([^@/\s]+)@")
REDACTED = "***"


def redact_uri(uri: str) -> str:
    """The URI with its user name and password replaced, so it can be printed or stored."""
    return _USERINFO.sub(lambda m: f"{m.group(1)}{REDACTED}@", uri)


def redact_text(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Text (an error message, a log line) with URIs redacted and each secret masked, in raw
    and percent-encoded form (drivers quote the password they were given)."""
    text = redact_uri(text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED).replace(quote(secret, safe=""), REDACTED)
    return text


def uri_secrets(uri: str) -> tuple[str, ...]:
    """The user name and password a URI carries, to mask wherever they might surface."""
    m = _USERINFO.search(uri)
    if m is None:
        return ()
    user, _, password = m.group(2).partition(":")
    return tuple(s for s in (password, user) if s)


def has_credentials(uri: str) -> bool:
    return _USERINFO.search(uri) is not None
