"""Opaque, prefixed identifiers (``prf_3k9...``), as public as a URL.

Random rather than sequential so that ids leak nothing about volume and an
outsider cannot enumerate another party's objects.
"""

from __future__ import annotations

import secrets

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case


def new_id(prefix: str, length: int = 20) -> str:
    return f"{prefix}_" + "".join(secrets.choice(_ALPHABET) for _ in range(length))


# Named module-level functions: migrations reference field defaults by name.
def new_party_id() -> str:
    return new_id("pty")


def new_contract_id() -> str:
    return new_id("ctr")


def new_key_id() -> str:
    return new_id("key")


def new_event_id() -> str:
    return new_id("evt")
